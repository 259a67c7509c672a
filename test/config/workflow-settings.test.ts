import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileAppConfig, type ConfigOverrides } from '../../src/config/app-config.js';
import { toIniKeys } from '../../src/config/flow-settings.js';
import { SectionReader } from '../../src/kernel/section-reader.js';
import { compileWorkflowOptions } from '../../src/config/workflow-settings.js';
import { expectConfigError } from '../helpers/config-error.js';
import { DEFAULT_SETTINGS } from '../helpers/default-settings.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'flowd-workflow-settings-'));
writeFileSync(path.join(dir, 'workflows.ts'), 'export const nothing = 1;\n');
mkdirSync(path.join(dir, 'plugins'));
const FILE = path.join(dir, 'videos.ini');
const BROKER = 'stomp://127.0.0.1:61613/queue/videos';
const compile = (lines: string[], overrides: ConfigOverrides = {}) => compileAppConfig(lines.join('\n'), FILE, overrides, {});
/** An app of [Flow] (line 1-2) and [Workflow] (line 4-5) whose keys begin on line 6. */
const workflow = (...lines: string[]) =>
  compile(['[Flow]', 'app name = videos', '', '[Workflow]', 'module = ./workflows.ts', ...lines]).workflow!;

describe('[Workflow] broker virtual host', () => {
  it('reads the virtual host of the broker, and has none by default', () => {
    expect(workflow(`broker = ${BROKER}`).brokerVirtualHost).toBeUndefined();
    expect(workflow(`broker = ${BROKER}`, 'broker virtual host = /production').brokerVirtualHost).toBe('/production');
  });

  it('refuses a virtual host without a broker, naming the key, and takes an empty one for the default', () => {
    expectConfigError(() => workflow('broker virtual host = /production'), {
      file: FILE,
      line: 6,
      section: 'Workflow',
      key: 'broker virtual host',
      says: ['found "/production", but there is no broker', 'expected broker = stomp://'],
    });
    // Left empty, it is the broker's default.
    expect(workflow(`broker = ${BROKER}`, 'broker virtual host =').brokerVirtualHost).toBeUndefined();
  });
});

describe('[Workflow] decide', () => {
  it('decides by default', () => {
    expect(workflow().decide).toBe(true);
    expect(workflow('decide = yes').decide).toBe(true);
  });

  it('reads decide = no in an activity worker that serves its task lists over a broker', () => {
    expect(workflow(`broker = ${BROKER}`, 'task lists = transcoding, thumbnails', 'decide = no')).toMatchObject({
      decide: false,
      broker: BROKER,
      taskLists: ['transcoding', 'thumbnails'],
    });
    expect(workflow(`broker = ${BROKER}`, 'decide = off').decide).toBe(false);
  });

  it('refuses decide = no without a broker, naming the file, section and key, and what to write instead', () => {
    expectConfigError(() => workflow('decide = no'), {
      file: FILE,
      line: 6,
      section: 'Workflow',
      key: 'decide',
      says: [
        'is no, but there is no broker',
        'an app that does not decide runs its activities only over a broker',
        'expected broker = stomp://',
        'or decide = yes',
      ],
    });
  });

  it('refuses a decide that is not yes or no', () => {
    expectConfigError(() => workflow(`broker = ${BROKER}`, 'decide = sometimes'), {
      file: FILE,
      line: 7,
      section: 'Workflow',
      key: 'decide',
      says: ['found "sometimes"; expected yes or no'],
    });
  });

  it('refuses decide: false without a broker in createRuntime options too', () => {
    const reader = new SectionReader(toIniKeys({ decide: false, concurrency: 2 }), { section: 'createRuntime options.workflows' });
    expectConfigError(() => compileWorkflowOptions(reader), {
      section: 'createRuntime options.workflows',
      key: 'decide',
      says: ['expected broker = stomp://'],
    });
    expect(
      compileWorkflowOptions(
        new SectionReader(toIniKeys({ decide: false, broker: BROKER }), { section: 'createRuntime options.workflows' }),
      ).decide,
    ).toBe(false);
  });
});

describe('[Workflow] retry delays', () => {
  it('accepts a retry max delay equal to the retry delay', () => {
    expect(workflow('retry delay = 2s', 'retry max delay = 2s')).toMatchObject({ retryDelayMs: 2000, retryMaxDelayMs: 2000 });
  });

  it('raises the default retry max delay (60s) to a longer retry delay', () => {
    expect(workflow('retry delay = 2m')).toMatchObject({ retryDelayMs: 120_000, retryMaxDelayMs: 120_000 });
    expect(workflow('retry delay = 2s')).toMatchObject({ retryDelayMs: 2000, retryMaxDelayMs: 60_000 });
  });

  it('refuses a retry max delay smaller than the retry delay, naming the key and both values', () => {
    expectConfigError(() => workflow('retry delay = 5s', 'retry max delay = 500ms'), {
      file: FILE,
      line: 7,
      section: 'Workflow',
      key: 'retry max delay',
      says: ['found 500ms, less than retry delay (5s)', 'expected a retry max delay of at least the retry delay'],
    });
  });

  it('says when the retry delay it is compared with is the default', () => {
    expectConfigError(() => workflow('retry max delay = 250ms'), {
      file: FILE,
      line: 6,
      section: 'Workflow',
      key: 'retry max delay',
      says: ['found 250ms, less than retry delay (1s, the default)'],
    });
  });
});

describe('[Workflow] task lists', () => {
  it('reads task lists with a broker', () => {
    expect(workflow(`broker = ${BROKER}`, 'task lists = transcoding').taskLists).toEqual(['transcoding']);
  });

  it('refuses task lists without a broker, naming the key and what it found', () => {
    expectConfigError(() => workflow('task lists = transcoding, thumbnails'), {
      file: FILE,
      line: 6,
      section: 'Workflow',
      key: 'task lists',
      says: [
        'found "transcoding, thumbnails", but there is no broker',
        'only a daemon with broker serves task lists over it',
        'expected broker = stomp://',
      ],
    });
  });

  it('refuses a task list name that cannot be part of a queue name, as the broker would', () => {
    for (const name of ['a/b', 'reports']) {
      expectConfigError(() => workflow(`broker = ${BROKER}`, `task lists = ok, ${name}`), {
        file: FILE,
        line: 7,
        section: 'Workflow',
        key: 'task lists',
        says: [
          name === 'reports' ? 'the task list name "reports" is taken by the queue of reports' : 'found "a/b"',
          'expected task list names, comma-separated',
        ],
      });
    }
  });
});

describe('an INI file without [Flow]', () => {
  it('runs an app with only [Workflow], named after its file', () => {
    const config = compile(['[Workflow]', 'module = ./workflows.ts']);
    expect(config.app).toEqual({ name: 'videos', dir, stateDir: path.join(dir, '.flowd', 'videos') });
    expect(config.workerClass).toBeUndefined();
    expect(config.settings).toEqual(DEFAULT_SETTINGS);
    expect(config.workflow).toMatchObject({ module: path.join(dir, 'workflows.ts'), decide: true });
  });

  it('still takes the app name from -n', () => {
    expect(compile(['[Workflow]', 'module = ./workflows.ts'], { appName: 'clips' }).app.name).toBe('clips');
  });

  it('runs an event-log app with only [Plugins] and [Source]', () => {
    const config = compile([
      '[Source]',
      'type = event-log',
      'url = postgres://postgres@127.0.0.1:5432/test',
      '',
      '[Plugins]',
      'paths = ./plugins',
    ]);
    expect(config.app.name).toBe('videos');
    expect(config.plugins).toMatchObject({ paths: [path.join(dir, 'plugins')] });
  });

  it('refuses a file with none of [Flow], [Workflow] and [Plugins], naming what it expected', () => {
    const error = expectConfigError(() => compile(['[Source]', 'type = stdin']), {
      file: FILE,
      section: 'Flow',
      says: ['is missing', 'expected a [Flow] section with at least class = ...', 'or a [Workflow] section'],
    });
    expect(error.key).toBeUndefined();
  });

  it('refuses a lower-case [flow] even beside [Workflow]: section names are case-sensitive', () => {
    expectConfigError(() => compile(['[flow]', 'app name = videos', '', '[Workflow]', 'module = ./workflows.ts']), {
      file: FILE,
      section: 'flow',
      says: ['section names are case-sensitive', 'expected [Flow], found [flow]'],
    });
  });
});

describe('[Workflow] limits', () => {
  it("defaults to Flowy's workflow duration of 1h and rate limit of 64, and 1048576 characters of input and result", () => {
    expect(workflow().limits).toEqual({ durationMs: 3_600_000, rateLimit: 64, maxInputSize: 1_048_576, maxResultSize: 1_048_576 });
  });

  it('reads workflow duration, rate limit, max input size and max result size', () => {
    expect(workflow('workflow duration = 2h', 'rate limit = 8', 'max input size = 32768', 'max result size = 40000').limits).toEqual({
      durationMs: 7_200_000,
      rateLimit: 8,
      maxInputSize: 32_768,
      maxResultSize: 40_000,
    });
  });

  it('refuses a rate limit of 0, naming the key', () => {
    expectConfigError(() => workflow('rate limit = 0'), { file: FILE, line: 6, section: 'Workflow', key: 'rate limit', says: ['0'] });
  });
});
