import { describe, expect, it } from 'vitest';
import { commandHelp, parse } from '../../src/cli/cli-args.js';

describe('flowd plugins --reset-cursor', () => {
  it.each([
    [['plugins', 'app.ini', '--reset-cursor', 'notify'], { plugin: 'notify', to: 'latest' }],
    [['plugins', 'app.ini', '--reset-cursor', 'notify', '--to', 'Earliest'], { plugin: 'notify', to: 'earliest' }],
    [['plugins', 'app.ini', '--reset-cursor=notify', '--to=42'], { plugin: 'notify', to: 42 }],
  ])('parses %j', (argv, resetCursor) => {
    expect(parse(argv)).toMatchObject({ command: 'plugins', file: 'app.ini', resetCursor });
  });

  it.each([
    [
      ['plugins', 'app.ini', '--to', 'latest'],
      '--to says where --reset-cursor puts the cursor; give both: --reset-cursor NAME --to latest',
    ],
    [
      ['plugins', 'app.ini', '--reset-cursor', 'a', '--to', '0'],
      '--to: found "0"; expected latest, earliest or an event id (a whole number of at least 1)',
    ],
    [
      ['plugins', 'app.ini', '--reset-cursor', 'a', '--to', 'earlist'],
      '--to: found "earlist"; expected latest, earliest or an event id (a whole number of at least 1) (did you mean "earliest"?)',
    ],
    [
      ['plugins', 'app.ini', '--reset-cursor', 'a', '--json'],
      '--json lists the plugins and --reset-cursor resets one cursor; give one of them',
    ],
    [['plugins', 'app.ini', '--reset-cursor'], '--reset-cursor needs a value: --reset-cursor <plugin>'],
    [['plugins', 'app.ini', '--reset-cursr', 'a'], 'unknown option --reset-cursr (did you mean "--reset-cursor"?)'],
    [['check', 'app.ini', '--reset-cursor', 'a'], '--reset-cursor, --reactivate and --to are options of plugins, not of check'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parse(argv)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
  });

  it('is in the help of flowd plugins', () => {
    const help = commandHelp(['plugins']);
    expect(help).toContain(
      'flowd plugins <app.ini> [--json | --reset-cursor name [--to latest|earliest|id] | --reactivate name] [--log-level level]',
    );
    expect(help).toMatch(/--reset-cursor <plugin> +set the plugin's cursor anew/);
    expect(help).toMatch(/--to <where> +--reset-cursor: latest/);
  });
});

describe('flowd plugins --reactivate', () => {
  it.each([
    [['plugins', 'app.ini', '--reactivate', 'notify'], 'notify'],
    [['plugins', 'app.ini', '--reactivate=notify'], 'notify'],
  ])('parses %j', (argv, reactivate) => {
    expect(parse(argv)).toMatchObject({ command: 'plugins', file: 'app.ini', reactivate });
  });

  it.each([
    [['plugins', 'app.ini', '--reactivate', ''], '--reactivate: found ""; expected a plugin\'s name'],
    [['plugins', 'app.ini', '--reactivate'], '--reactivate needs a value: --reactivate <plugin>'],
    [['plugins', 'app.ini', '--reactivate', 'a', '--json'], '--json lists the plugins and --reactivate retries one; give one of them'],
    [
      ['plugins', 'app.ini', '--reactivate', 'a', '--reset-cursor', 'a'],
      '--reset-cursor and --reactivate each act on a plugin; give one of them',
    ],
    [['plugins', 'app.ini', '--reactivte', 'a'], 'unknown option --reactivte (did you mean "--reactivate"?)'],
    [['run', 'app.ini', '--reactivate', 'a'], '--reset-cursor, --reactivate and --to are options of plugins, not of run'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parse(argv)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
  });

  it('is in the help of flowd plugins', () => {
    const help = commandHelp(['plugins']);
    expect(help).toMatch(/--reactivate <plugin> +retry a plugin a failed callback deactivated/);
    expect(help).toContain('--reactivate retries\na plugin a failed callback deactivated');
  });
});
