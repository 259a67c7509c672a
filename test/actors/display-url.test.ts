import { describe, expect, it } from 'vitest';
import { displayUrl } from '../../actors/display-url.js';

describe('displayUrl', () => {
  it('shows a Redis URL with its password hidden and the rest as written', () => {
    expect(displayUrl('redis://app:s3cret@db.example:6380/2')).toBe('redis://app:***@db.example:6380/2');
    expect(displayUrl('redis://user:pa%40ss@host:6380/2')).toBe('redis://user:***@host:6380/2');
    expect(displayUrl('rediss://:s3cret@db.example')).toBe('rediss://:***@db.example');
    expect(displayUrl('redis://db.example:6379/0')).toBe('redis://db.example:6379/0');
  });

  it('hides query parameters that name a password, secret or token, as pg reads ?password=', () => {
    expect(displayUrl('postgres://app@db.example/flowd?password=s3cret&sslmode=require')).toBe(
      'postgres://app@db.example/flowd?password=***&sslmode=require',
    );
    expect(displayUrl('https://feed.example/events?after={id}&api_token=t0k&SSLPassword=x')).toBe(
      'https://feed.example/events?after={id}&api_token=***&SSLPassword=***',
    );
    expect(displayUrl('postgres://app:pw@db/flowd?application_name=x')).toBe('postgres://app:***@db/flowd?application_name=x');
  });

  it('keeps only what cannot hold a password of text that is not a URL', () => {
    expect(displayUrl('not a url:s3cret@host')).toBe('***@host');
  });
});
