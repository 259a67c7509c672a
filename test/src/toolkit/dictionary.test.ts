import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readDictionary } from '../../../src/toolkit/dictionary-feed.js';
import { DictionaryCache } from '../../../src/toolkit/dictionary.js';
import { HttpError, ParseError } from '../../../src/kernel/errors.js';
import { MultiParser } from '../../../src/toolkit/multi-parser.js';

const ATOM = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Genres</title>
  <link rel="self" href="/genres"/>
  <entry><title type="text">Sport</title><id>urn:genre:1</id></entry>
  <entry><title>Rock &amp; Roll</title><id>urn:genre:2</id></entry>
  <entry><title>  Current
      affairs </title><link href="http://dictionary.example/term/3"/></entry>
  <entry><title>Sport</title><id>urn:genre:duplicate</id></entry>
</feed>`;

const PAGE_1 = `<feed xmlns="http://www.w3.org/2005/Atom"><link rel="next" href="/paged/2"/>
  <entry><title>One</title><id>urn:n:1</id></entry></feed>`;
const PAGE_2 = `<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"><atom:link rel="previous" href="/paged"/>
  <atom:entry><atom:title>Two</atom:title><atom:id>urn:n:2</atom:id></atom:entry></atom:feed>`;

const DOCTYPE = `<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol2;</title><id>urn:x</id></entry></feed>`;

/** A dictionary server on loopback that counts the requests for each path. */
let server: Server;
let base: string;
const hits = new Map<string, number>();
const authorizations: Array<string | undefined> = [];
let failNext = 0;
/** Requests wait here while set, so that lookups can pile up on one fetch. */
let gate: Promise<void> | undefined;

function route(request: IncomingMessage, response: ServerResponse) {
  const path = request.url ?? '/';
  const send = (status: number, type: string, body: string) => response.writeHead(status, { 'content-type': type }).end(body);
  if (path === '/flaky' && failNext-- > 0) return send(503, 'text/plain', 'busy');
  switch (path) {
    case '/genres':
    case '/flaky':
    case '/private':
      return send(200, 'application/atom+xml; charset=utf-8', ATOM);
    case '/paged':
      return send(200, 'application/atom+xml', PAGE_1);
    case '/paged/2':
      return send(200, 'application/atom+xml', PAGE_2);
    case '/array.json':
      return send(
        200,
        'application/json',
        JSON.stringify([
          { term: 'Sport', value: 'urn:genre:1' },
          { term: 'News', value: 'urn:genre:4' },
        ]),
      );
    case '/map':
      return send(200, 'text/plain', JSON.stringify({ Sport: 'urn:genre:1', Weather: 'urn:genre:5' }));
    case '/bad.json':
      return send(200, 'application/json', JSON.stringify([{ term: 'Sport', id: 1 }]));
    case '/doctype':
      return send(200, 'application/atom+xml', DOCTYPE);
    case '/moved':
      return response.writeHead(301, { location: `${base}/genres` }).end();
    default:
      return send(404, 'text/plain', 'no such dictionary');
  }
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    authorizations.push(request.headers.authorization);
    if (gate === undefined) return route(request, response);
    void gate.then(() => route(request, response));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  hits.clear();
  authorizations.length = 0;
  failNext = 0;
  gate = undefined;
});

/** What `promise` rejects with. */
async function rejection<E = Error>(promise: Promise<unknown>): Promise<E> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as E,
  );
}

function dictionaryParser(path: string, dictionaries = new DictionaryCache()) {
  return new MultiParser({ type: 'dictionary', source: `${base}${path}`, dictionaries });
}

describe('dictionary lookups', () => {
  it('returns the id of the Atom entry whose title is the term, or its link when it has no id', async () => {
    const genres = dictionaryParser('/genres');
    await expect(genres.convert('Sport')).resolves.toBe('urn:genre:1');
    await expect(genres.convert('Rock & Roll')).resolves.toBe('urn:genre:2');
    await expect(genres.convert(' Current   affairs\n')).resolves.toBe('http://dictionary.example/term/3');
  });

  it('gives null for a term the dictionary does not have, as Flow stored None, and tells onMissingTerm the term and feed', async () => {
    const missing: Array<[string, string]> = [];
    const onMissingTerm = (term: string, source: string) => void missing.push([term, source]);
    await expect(dictionaryParser('/genres').convert(' Cooking  show', { onMissingTerm })).resolves.toBeNull();
    await expect(dictionaryParser('/genres').convert('sport', { onMissingTerm })).resolves.toBeNull();
    await expect(dictionaryParser('/genres').convert('Sport', { onMissingTerm })).resolves.toBe('urn:genre:1');
    expect(missing).toEqual([
      ['Cooking show', `${base}/genres`],
      ['sport', `${base}/genres`],
    ]);
  });

  it('reads JSON as an array of { term, value } or as an object of term: value', async () => {
    await expect(dictionaryParser('/array.json').convert('News')).resolves.toBe('urn:genre:4');
    await expect(dictionaryParser('/map').convert('Weather')).resolves.toBe('urn:genre:5');
  });

  it('refuses JSON of another shape, naming the item', async () => {
    await expect(dictionaryParser('/bad.json').convert('Sport')).rejects.toThrow(
      `cannot parse "${base}/bad.json" as dictionary feed: item 0 is {"term":"Sport","id":1}; expected { "term": "...", "value": "..." }`,
    );
  });

  it('follows the pages of an Atom feed', async () => {
    const paged = dictionaryParser('/paged');
    await expect(paged.convert('Two')).resolves.toBe('urn:n:2');
    await expect(paged.convert('One')).resolves.toBe('urn:n:1');
    expect(Object.fromEntries(hits)).toEqual({ '/paged': 1, '/paged/2': 1 });
  });

  it('refuses a feed with a DOCTYPE without expanding its entities', async () => {
    const error = await rejection<ParseError>(dictionaryParser('/doctype').convert('lol'));
    expect(error).toBeInstanceOf(ParseError);
    expect(error.message).toBe(
      `cannot parse "${base}/doctype" as dictionary feed: it declares a DOCTYPE, which flowd refuses (entities could expand without bound); serve the feed without one`,
    );
  });

  it('throws an HttpError for an error status, and says where a moved dictionary went', async () => {
    const missing = await rejection<HttpError>(dictionaryParser('/gone').convert('Sport'));
    expect(missing).toBeInstanceOf(HttpError);
    expect(missing).toMatchObject({ code: 'ERR_HTTP', method: 'GET', status: 404, url: `${base}/gone` });
    expect(missing.message).toBe(`the dictionary at ${base}/gone answered HTTP 404; expected 200`);
    await expect(dictionaryParser('/moved').convert('Sport')).rejects.toThrow(
      `answered HTTP 301; expected 200; it moved to ${base}/genres: set source to that URL`,
    );
  });

  it('throws an HttpError when nothing answers', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/genres`;
    await new Promise((resolve) => closed.close(resolve));
    const error = await rejection<HttpError>(
      new MultiParser({ type: 'dictionary', source: url, dictionaries: new DictionaryCache() }).convert('Sport'),
    );
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(new RegExp(`^cannot fetch the dictionary at ${url}: .*ECONNREFUSED`));
  });

  it('sends credentials in the URL as Basic auth and never shows them', async () => {
    const source = `${base.replace('http://', 'http://flow:s%40cret@')}/private`;
    const parser = new MultiParser({ type: 'dictionary', source, dictionaries: new DictionaryCache() });
    await expect(parser.convert('Sport')).resolves.toBe('urn:genre:1');
    expect(authorizations).toEqual([`Basic ${Buffer.from('flow:s@cret').toString('base64')}`]);
    const feeds: string[] = [];
    await expect(parser.convert('Cooking', { onMissingTerm: (_term, feed) => void feeds.push(feed) })).resolves.toBeNull();
    expect(feeds).toEqual([`${base}/private`]);
  });
});

describe('the dictionary cache', () => {
  it('fetches a dictionary once for many lookups through one cache, from any parser', async () => {
    const dictionaries = new DictionaryCache();
    const genres = dictionaryParser('/genres', dictionaries);
    await genres.convert('Sport');
    await genres.convert('Rock & Roll');
    await dictionaryParser('/genres', dictionaries).convert('Sport');
    expect(hits.get('/genres')).toBe(1);
    await dictionaryParser('/genres', new DictionaryCache()).convert('Sport');
    expect(hits.get('/genres')).toBe(2);
  });

  it('shares one fetch among lookups that come while it is under way', async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const dictionaries = new DictionaryCache();
    const arrived = once(server, 'request');
    const lookups = ['Sport', 'Rock & Roll', 'Sport', 'Current affairs', 'Sport'].map((term) =>
      dictionaries.lookup(`${base}/genres`, term),
    );
    await arrived;
    open();
    await expect(Promise.all(lookups)).resolves.toEqual([
      'urn:genre:1',
      'urn:genre:2',
      'urn:genre:1',
      'http://dictionary.example/term/3',
      'urn:genre:1',
    ]);
    expect(hits.get('/genres')).toBe(1);
  });

  it('fetches again once the TTL has passed since the dictionary arrived', async () => {
    let clock = 1_000_000;
    const dictionaries = new DictionaryCache({ ttlMs: 60_000, now: () => clock });
    await dictionaries.lookup(`${base}/genres`, 'Sport');
    clock += 59_999;
    await dictionaries.lookup(`${base}/genres`, 'Sport');
    expect(hits.get('/genres')).toBe(1);
    clock += 1;
    await dictionaries.lookup(`${base}/genres`, 'Sport');
    expect(hits.get('/genres')).toBe(2);
    clock += 30_000;
    await dictionaries.lookup(`${base}/genres`, 'Sport');
    expect(hits.get('/genres')).toBe(2);
  });

  it('does not keep a failed fetch: the next lookup tries again', async () => {
    failNext = 1;
    const dictionaries = new DictionaryCache();
    await expect(dictionaries.lookup(`${base}/flaky`, 'Sport')).rejects.toMatchObject({ code: 'ERR_HTTP', status: 503 });
    await expect(dictionaries.lookup(`${base}/flaky`, 'Sport')).resolves.toBe('urn:genre:1');
    expect(hits.get('/flaky')).toBe(2);
  });

  it('stops one caller waiting when its signal aborts, without failing the others', async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const dictionaries = new DictionaryCache();
    const controller = new AbortController();
    const abandoned = dictionaries.lookup(`${base}/genres`, 'Sport', controller.signal);
    const patient = dictionaries.lookup(`${base}/genres`, 'Sport');
    controller.abort(new Error('shutting down'));
    await expect(abandoned).rejects.toThrow('shutting down');
    open();
    await expect(patient).resolves.toBe('urn:genre:1');
  });

  it('refuses a page larger than maxBytes, and gives up on one that takes longer than timeoutMs', async () => {
    const small = new DictionaryCache({ maxBytes: 100 });
    await expect(small.lookup(`${base}/genres`, 'Sport')).rejects.toThrow(
      `cannot parse "${base}/genres" as dictionary feed: it is larger than 100 bytes (maxBytes)`,
    );
    gate = new Promise(() => {});
    const slow = await rejection<HttpError>(new DictionaryCache({ timeoutMs: 50 }).lookup(`${base}/genres`, 'Sport'));
    expect(slow).toBeInstanceOf(HttpError);
    expect(slow.message).toBe(`cannot fetch the dictionary at ${base}/genres: no answer within 50ms`);
  });

  it('refuses a negative TTL', () => {
    expect(() => new DictionaryCache({ ttlMs: -1 })).toThrow('DictionaryCache: ttlMs is -1; expected a number of at least 0');
  });
});

describe('readDictionary', () => {
  const read = (text: string, type?: string) => {
    const terms = new Map<string, string>();
    readDictionary(text, type, 'http://dictionary.example/feed', terms);
    return terms;
  };

  it('keeps the first of two entries with the same term, and decodes only the XML escapes', () => {
    const terms = read(ATOM);
    expect(terms.get('Sport')).toBe('urn:genre:1');
    expect([...terms.keys()]).toEqual(['Sport', 'Rock & Roll', 'Current affairs']);
    expect(read('<feed><entry><title>&#x263A; &lt;b&gt; &unknown;</title><id>1</id></entry></feed>').get('☺ <b> &unknown;')).toBe('1');
  });

  it('names what is wrong with a feed', () => {
    expect(() => read('<rss><channel/></rss>')).toThrow(/expected an Atom <feed>, found <rss>/);
    expect(() => read('<feed><entry><id>1</id></entry></feed>')).toThrow(/entry 1 has no <title> text/);
    expect(() => read('<feed><entry><title>A</title></entry></feed>')).toThrow(/entry 1 \("A"\) has neither <id> nor <link href>/);
    expect(() => read('<feed><entry>')).toThrow(/it is not well-formed XML: .* \(line 1\)/);
    expect(() => read('<feed>\n<entry><title>&#0;</title><id>1</id></entry></feed>')).toThrow(
      /it is not well-formed XML: the character reference &#0; is U\+0000, which XML does not allow; .* \(line 2\)/,
    );
    expect(() => read('<feed>\n\n<entry><title>a\uFFFF</title><id>1</id></entry></feed>')).toThrow(
      /it is not well-formed XML: the character U\+FFFF is not allowed in XML .* \(line 3\)/,
    );
    expect(() => read('Sport=1', 'text/plain')).toThrow(/expected an Atom feed or JSON, found text\/plain starting "Sport=1"/);
    expect(() => read('{"Sport": 1}')).toThrow(/"Sport" maps to 1; expected a string/);
    expect(() => read('[1,', 'application/json')).toThrow(/it is not valid JSON/);
  });
});
