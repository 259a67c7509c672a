import { describe, expect, it } from 'vitest';
import { readTransferData } from '../../src/apps/transfer-data.js';

const json = {
  source: 'file:///media/in/',
  destination: 'ftp://ftp.example.com/incoming/',
  step: 'http://vizone.example.com/api/transfer/step/42',
  settings: { username: 'export', password: 'secret' },
  asset: { id: 2011, fields: { 'asset.title': 'Evening news', tags: ['a', 'b'] }, media: ['clip.mxf'] },
};

const xml = `<?xml version="1.0"?>
<transfer>
  <source>file:///media/in/</source>
  <destination>ftp://ftp.example.com/incoming/</destination>
  <step>http://vizone.example.com/api/transfer/step/42</step>
  <settings><setting name="username">export</setting><setting name="password">s&amp;cret</setting></settings>
  <asset id="2011">
    <field name="asset.title">Tom &amp; Jerry &lt;live&gt; &#233;</field>
    <field name="tags">a</field><field name="tags">b</field>
    <field name="empty"/>
    <media href="clip.mxf"/><media href="clip.wav"/>
  </asset>
</transfer>`;

describe('readTransferData', () => {
  it('reads the JSON form: URLs, settings, and the asset with its id as text and its title from asset.title', () => {
    const data = readTransferData(JSON.stringify(json));
    expect(data).toEqual({
      format: 'json',
      source: 'file:///media/in/',
      destination: 'ftp://ftp.example.com/incoming/',
      step: 'http://vizone.example.com/api/transfer/step/42',
      settings: { username: 'export', password: 'secret' },
      asset: { id: '2011', title: 'Evening news', fields: { 'asset.title': 'Evening news', tags: ['a', 'b'] }, media: ['clip.mxf'] },
    });
  });

  it('accepts an already parsed object (a source with payload class = json)', () => {
    expect(readTransferData(json).asset?.id).toBe('2011');
  });

  it('reads the XML form the same way, decoding the predefined entities and listing repeated fields', () => {
    const data = readTransferData(xml);
    expect(data).toEqual({
      format: 'xml',
      source: 'file:///media/in/',
      destination: 'ftp://ftp.example.com/incoming/',
      step: 'http://vizone.example.com/api/transfer/step/42',
      settings: { username: 'export', password: 's&cret' },
      asset: {
        id: '2011',
        title: 'Tom & Jerry <live> é',
        fields: { 'asset.title': 'Tom & Jerry <live> é', tags: ['a', 'b'], empty: '' },
        media: ['clip.mxf', 'clip.wav'],
      },
    });
  });

  it('names everything that is missing, by default requiring asset, source and destination', () => {
    expect(() => readTransferData('{"step": "http://h/s"}')).toThrowError(
      /is missing an "asset" with an id, a "source" URL, a "destination" URL/,
    );
    expect(() => readTransferData('{}')).toThrowError(expect.objectContaining({ code: 'ERR_TRANSFER' }));
  });

  it('requires only what the options ask for', () => {
    const data = readTransferData({ destination: 'file:///out/' }, { requireAsset: false, requireSource: false });
    expect(data.destination).toBe('file:///out/');
    expect(() => readTransferData({ destination: 'file:///out/' }, { requireAsset: false })).toThrowError(/is missing a "source" URL;/);
  });

  it('refuses an asset without an id, a relative URL (hiding its password) and a step that is not http', () => {
    expect(() => readTransferData({ ...json, asset: { fields: {} } })).toThrowError(/asset without an "id"/);
    expect(() => readTransferData({ ...json, destination: '//user:hunter2@host/in' })).toThrowError(
      /"destination" = "\/\/user:\*\*\*@host\/in", which is not an absolute URL/,
    );
    expect(() => readTransferData({ ...json, step: 'ftp://h/step' })).toThrowError(
      /"step" = "ftp:\/\/h\/step"; expected a http: or https: URL/,
    );
  });

  it('says why text is neither JSON nor XML, and refuses a DOCTYPE and a foreign root element', () => {
    expect(() => readTransferData('')).toThrowError(/is empty; expected JSON/);
    expect(() => readTransferData('{"source": ')).toThrowError(/is neither XML nor JSON/);
    expect(() => readTransferData('<!DOCTYPE x [<!ENTITY e "boom">]><transfer/>')).toThrowError(/DOCTYPE/);
    expect(() => readTransferData('<transfer>\n<source>a&#xD800;</source></transfer>')).toThrowError(
      /is not well-formed XML \(line 2, column 10\): the character reference &#xD800; is U\+D800, which XML does not allow/,
    );
    expect(() => readTransferData('<record id="1"/>')).toThrowError(/root element <record>; expected <transfer>/);
    expect(() => readTransferData('<transfer><source>a</source><source>b</source></transfer>')).toThrowError(/more than one <source>/);
  });
});
