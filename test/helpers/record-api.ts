import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClient, type ApiClient } from '../../src/toolkit/client.js';
import { compileApiSettings } from '../../src/config/api-settings.js';
import { SectionReader } from '../../src/kernel/section-reader.js';

interface ServedRecord {
  id: string;
  fields: Record<string, unknown>;
  media: string[];
  version: number;
  form?: string;
}

/**
 * A REST server on loopback with the shape `[Target] type = http` expects
 * under `/records`: GET / PUT `<id>` (ETag, If-Match, If-None-Match: *,
 * 412 on a stale version) and POST `<id>/media` with a text/uri-list.
 */
export class RecordApi {
  readonly records = new Map<string, ServedRecord>();
  /** Every request: method, URL, the conditional headers and the body. */
  readonly seen: Array<{
    method: string;
    url: string;
    ifMatch?: string | undefined;
    ifNoneMatch?: string | undefined;
    contentType?: string | undefined;
    body: string;
  }> = [];
  /** Runs before a conditional write is checked: another writer sneaking in. */
  beforeWrite: ((id: string) => void) | undefined;
  /** Called for every write that changed a record: the update events a real server would publish. */
  onUpdate: ((id: string) => void) | undefined;
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));
  port = 0;

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** An API client for this server, as `[Api] hostname = 127.0.0.1:<port>` makes it. */
  client(): ApiClient {
    return createClient(
      compileApiSettings(
        new SectionReader(
          new Map([
            ['hostname', `127.0.0.1:${this.port}`],
            ['retries', '0'],
          ]),
          { section: 'Api' },
        ),
      ),
    );
  }

  /** Writes that changed a record (PUTs answered 2xx). */
  get writes(): number {
    return this.seen.filter((r) => r.method === 'PUT').length - this.rejected;
  }

  private rejected = 0;

  /** Stores a record as if another writer had. */
  put(id: string, fields: Record<string, unknown>, media: string[] = [], form?: string): ServedRecord {
    const record = { id, fields, media, version: (this.records.get(id)?.version ?? 0) + 1, ...(form !== undefined ? { form } : {}) };
    this.records.set(id, record);
    return record;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = req.url ?? '';
    this.seen.push({
      method: req.method!,
      url,
      ifMatch: req.headers['if-match'],
      ifNoneMatch: req.headers['if-none-match'],
      contentType: req.headers['content-type'],
      body,
    });
    const match = /^\/records\/([^/]+)(\/media)?$/.exec(url);
    if (!match) return void res.writeHead(404).end();
    const id = decodeURIComponent(match[1]!);
    const send = (status: number, record?: ServedRecord) => {
      if (!record) return void res.writeHead(status).end();
      const { form } = record;
      const text = JSON.stringify({
        id: record.id,
        ...(form ? { form } : {}),
        fields: record.fields,
        media: record.media,
        links: { self: `/records/${id}` },
      });
      res.writeHead(status, { 'content-type': 'application/json', etag: `"${record.version}"` }).end(text);
    };
    const current = this.records.get(id);
    if (match[2]) {
      if (req.method !== 'POST' || !current) return send(current ? 405 : 404);
      const names = body
        .split(/\r?\n/)
        .filter(Boolean)
        .map((uri) => fileURLToPath(uri).split('/').pop()!);
      this.put(id, current.fields, [...current.media, ...names], current.form);
      this.onUpdate?.(id);
      return send(204);
    }
    if (req.method === 'GET') return current ? send(200, current) : send(404);
    if (req.method !== 'PUT') return send(405);
    this.beforeWrite?.(id);
    const now = this.records.get(id);
    const ifMatch = req.headers['if-match'];
    if ((req.headers['if-none-match'] === '*' && now) || (ifMatch !== undefined && ifMatch !== (now ? `"${now.version}"` : undefined))) {
      this.rejected++;
      return send(412);
    }
    const { fields, form } = JSON.parse(body) as { fields: Record<string, unknown>; form?: string };
    const written = this.put(id, fields, now?.media ?? [], form);
    this.onUpdate?.(id);
    send(now ? 200 : 201, written);
  }
}
