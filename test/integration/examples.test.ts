import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteQueues, take } from '../helpers/broker.js';
import { flowd, ROOT, type FlowdProcess } from '../helpers/cli.js';
import { dropStoreTable, dropTable, testPool } from '../helpers/postgres.js';

// Every example is run here as examples/README.md tells a user to: its first-shell commands, its
// second-shell commands, read from the README and run as written (through sh, from the repository
// root), and what the README says each shell shows is awaited in that shell's output. Afterwards
// `git status` of examples/ is what it was before: the examples write only to git-ignored folders.

const GUIDE = path.join(ROOT, 'examples/README.md');

/** A labelled block of examples/README.md: commands for a shell, or what a shell shows. */
interface Step {
  kind: 'first shell' | 'second shell' | 'first shell shows' | 'second shell shows';
  lines: string[];
}

const LABELS: Record<string, Step['kind']> = {
  'First shell': 'first shell',
  'Second shell': 'second shell',
  'Then, in the second shell': 'second shell',
  'The first shell shows': 'first shell shows',
  'The second shell shows': 'second shell shows',
};

/** The guide's sections (`## name`), each with its labelled blocks in order: a bold label opens a paragraph that ends right before the block. */
function readGuide(text: string): Map<string, Step[]> {
  const sections = new Map<string, Step[]>();
  for (const part of text.split(/^## /m).slice(1)) {
    const name = part.slice(0, part.indexOf('\n')).trim();
    const steps: Step[] = [];
    for (const match of part.matchAll(/^\*\*([^*]+?):?\*\*(?:(?!\n\n)[\s\S])*\n\n```(sh|text)\n([\s\S]*?)\n```$/gm)) {
      const kind = LABELS[match[1]!];
      expect(kind, `examples/README.md, ${name}: a block labelled "${match[1]}"`).toBeDefined();
      expect(match[2], `examples/README.md, ${name}: the block after "${match[1]}"`).toBe(kind!.endsWith('shows') ? 'text' : 'sh');
      steps.push({ kind: kind!, lines: match[3]!.split('\n').filter((line) => line.trim() !== '') });
    }
    // Every block of commands is one the tests run: none is left outside a labelled paragraph.
    expect(steps.filter((s) => !s.kind.endsWith('shows')).length, `examples/README.md, ${name}: sh blocks all labelled`).toBe(
      part.match(/^```sh$/gm)?.length ?? 0,
    );
    expect(steps.filter((s) => s.kind.endsWith('shows')).length, `examples/README.md, ${name}: text blocks all labelled`).toBe(
      part.match(/^```text$/gm)?.length ?? 0,
    );
    sections.set(name, steps);
  }
  return sections;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A line the guide shows, `...` standing for any text, as a pattern for a whole stdout line (spaces around it aside). */
const stdoutPattern = (shown: string): RegExp => new RegExp(`^\\s*${shown.trim().split('...').map(escape).join('.*')}\\s*$`, 'm');

/** The same line as the message of one of flowd's JSON log lines on stderr (what a terminal shows pretty-printed). */
const logPattern = (shown: string): RegExp =>
  new RegExp(
    `"msg":"${shown
      .trim()
      .split('...')
      .map((part) => escape(JSON.stringify(part).slice(1, -1)))
      .join('(?:[^"\\\\]|\\\\.)*')}"`,
  );

/** Runs one command line through sh from the repository root, as a user types it. */
function sh(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...out }));
  });
}

/** Rejects after `ms` with a message naming what was awaited, so a missing line fails with the output rather than a bare timeout. */
function within<T>(ms: number, promise: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What the test knows that the guide leaves to the reader's eyes. */
interface Example {
  /** The first shell's daemon is ready for the second shell once its log (stderr) matches; none for a command that ends by itself. */
  ready?: RegExp;
  /** Fills in a placeholder of a second-shell line from what the previous second-shell step printed. */
  fill?: (line: string, previous: string) => string;
  /** Runtime state to remove before and after the run (relative to the root; all git-ignored, or outside the clone). */
  state?: string[];
  /** Services' state to reset before and after the run. */
  reset?: () => Promise<void>;
  /** Checks beyond what the guide shows, once the first shell has exited. */
  verify?: (first: FlowdProcess) => Promise<void>;
}

const EXAMPLES: Record<string, Example> = {
  hello: {
    ready: /hello started/,
    verify: async (first) => expect(first.stderr()).toMatch(/hello stopped \(requested\)/),
  },
  lines: {
    verify: async (first) => {
      const lines = first.stdout().trim().split('\n');
      expect(lines.filter((l) => l.startsWith('alice'))).toEqual([
        'alice: +120 EUR -> 120 EUR',
        'alice: -20 EUR -> 100 EUR',
        'alice: +7 EUR -> 107 EUR',
      ]);
      expect(lines.filter((l) => l.startsWith('bob'))).toEqual(['bob: +40 EUR -> 40 EUR', 'bob: +2.5 EUR -> 42.5 EUR']);
      expect(lines).toHaveLength(6);
    },
  },
  inbox: {
    ready: /inbox started/,
    state: [
      'examples/inbox/in/hello.txt',
      'examples/inbox/in/empty.txt',
      'examples/inbox/done',
      'examples/inbox/failed',
      'examples/inbox/.flowd',
    ],
    verify: async () => {
      expect(await readFile(path.join(ROOT, 'examples/inbox/done/hello.txt'), 'utf8')).toBe('hello\n');
      expect((await readdir(path.join(ROOT, 'examples/inbox/failed'))).sort()).toEqual(['empty.txt', 'empty.txt.error.txt']);
      expect(await readFile(path.join(ROOT, 'examples/inbox/failed/empty.txt.error.txt'), 'utf8')).toContain(
        'ERR_EMPTY: empty.txt has no words',
      );
      expect(await readdir(path.join(ROOT, 'examples/inbox/in'))).toEqual(['.gitkeep']);
    },
  },
  web: { ready: /listening on http:\/\/127\.0\.0\.1:8080\/api\//, state: ['examples/web/.flowd'] },
  queue: {
    ready: /connected to stomp:\/\/guest@127\.0\.0\.1:61613\/queue\/flowd-example\.assets/,
    state: ['examples/queue/.flowd'],
    reset: () => deleteQueues('flowd-example.assets', 'flowd-example.registered'),
    verify: async () => {
      const announced = await take('/queue/flowd-example.registered', 3);
      expect(announced.map((m) => (JSON.parse(m.body) as { id: string }).id).sort()).toEqual(['A-1', 'A-2', 'A-3']);
    },
  },
  xmlimport: {
    ready: /xmlimport started/,
    state: [
      'examples/xmlimport/in/clip.mxf',
      'examples/xmlimport/in/A1.xml',
      'examples/xmlimport/records',
      'examples/xmlimport/done',
      'examples/xmlimport/failed',
      'examples/xmlimport/.flowd',
    ],
    verify: async () => {
      const example = path.join(ROOT, 'examples/xmlimport');
      expect(JSON.parse(await readFile(path.join(example, 'records/A1.json'), 'utf8'))).toMatchObject({
        fields: { 'asset.title': 'Evening news' },
        media: ['clip.mxf'],
      });
      expect(await readFile(path.join(example, 'records/A1.media/clip.mxf'))).toEqual(
        await readFile(path.join(example, 'samples/clip.mxf')),
      );
      expect((await readdir(path.join(example, 'done'))).sort()).toEqual(['A1.xml', 'clip.mxf']);
    },
  },
  metadatamapper: {
    ready: /listening on http:\/\/127\.0\.0\.1:8081\/updates\//,
    state: ['examples/metadatamapper/records/A1.json', 'examples/metadatamapper/.flowd'],
    verify: async () => {
      // The sample the user copies is as shipped; only the copy in the git-ignored records/ changed.
      expect(JSON.parse(await readFile(path.join(ROOT, 'examples/metadatamapper/samples/A1.json'), 'utf8'))).toEqual(
        expect.objectContaining({ version: 1, fields: { 'asset.title': 'Evening news' } }),
      );
      expect(JSON.parse(await readFile(path.join(ROOT, 'examples/metadatamapper/records/A1.json'), 'utf8'))).toMatchObject({
        version: 2,
        fields: { 'asset.title': 'Evening news', 'asset.subtitle': 'Evening news alternative', 'asset.slug': 'evening-news' },
      });
    },
  },
  transfer: {
    state: ['/tmp/flowd-transfer-example', 'examples/transfer/.flowd'],
    verify: async () => expect(await readFile('/tmp/flowd-transfer-example/out/clip.txt', 'utf8')).toBe('hello\n'),
  },
  xmlexport: {
    state: ['/tmp/flowd-xmlexport-example', 'examples/xmlexport/.flowd'],
    verify: async () => {
      const destination = '/tmp/flowd-xmlexport-example';
      expect((await readdir(destination)).sort()).toEqual(['A1.xml', 'clip.mxf']);
      expect(await readFile(path.join(destination, 'clip.mxf'))).toEqual(await readFile(path.join(ROOT, 'examples/xmlexport/clip.mxf')));
      expect(await readFile(path.join(destination, 'A1.xml'), 'utf8')).toContain('<field name="asset.title">Evening news</field>');
    },
  },
  events: {
    ready: /events started/,
    state: ['examples/events/.flowd'],
    // A fresh table: emit.mjs creates it, and its ids start at 1 again.
    reset: async () => {
      const db = testPool(1);
      try {
        await dropTable(db, 'flowd_example_events');
      } finally {
        await db.end();
      }
    },
    verify: async (first) => {
      const lines = first.stdout().trim().split('\n');
      expect(lines.filter((l) => l.startsWith('task'))).toEqual([
        'task 11: status is now rdy (event 1)',
        'task 13: status is now rev (event 3)',
        'task 15: status is now wtg (event 5)',
        'task 17: status is now ip (event 7)',
      ]);
      expect(lines.filter((l) => l.startsWith('version'))).toEqual([
        'version 102 is new (1 so far, event 2)',
        'version 104 is new (2 so far, event 4)',
        'version 106 is new (3 so far, event 6)',
      ]);
    },
  },
  video: {
    ready: /video started/,
    state: ['examples/video/.flowd'],
    fill: (line, previous) => fillRunId(line, previous),
  },
  tutorial: {
    ready: /workflows: deciding for app tutorial/,
    state: ['examples/tutorial/.flowd'],
    // A fresh table and empty queues.
    reset: async () => {
      const db = testPool(1);
      try {
        await dropStoreTable(db, 'flowd_example_tutorial');
      } finally {
        await db.end();
      }
      await deleteQueues('flowd-example.tutorial.video', 'flowd-example.tutorial.default', 'flowd-example.tutorial.reports');
    },
    fill: (line, previous) => fillRunId(line, previous),
    verify: async (first) => expect(first.stderr()).toMatch(/workflow UploadWorkflow run [0-9a-f-]{36} completed/),
  },
};

/** A second-shell line with `<run id>` in it, filled in with the id `flowd workflow start` printed first. */
function fillRunId(line: string, previous: string): string {
  if (!line.includes('<run id>')) return line;
  const runId = previous.split('\n')[0]!;
  expect(runId, 'workflow start prints the run id first').toMatch(/^[0-9a-f-]{36}$/);
  return line.replace('<run id>', runId);
}

const gitStatus = async (): Promise<string> => {
  const status = await sh('git --no-optional-locks status --porcelain --untracked-files=all -- examples');
  expect(status.code).toBe(0);
  return status.stdout;
};

const clear = async (example: Example): Promise<void> => {
  for (const made of example.state ?? []) await rm(path.resolve(ROOT, made), { recursive: true, force: true });
  await example.reset?.();
};

/** Runs an example's blocks in the guide's order, checks what it shows, stops a daemon with Ctrl-C (SIGINT), then the example's own checks. */
async function runAsGuided(name: string, steps: Step[], example: Example): Promise<void> {
  let first: FlowdProcess | undefined;
  let setupOutput = '';
  let previous = '';
  const firstShell = () => `${setupOutput}${first?.stdout() ?? ''}\n--- stderr ---\n${first?.stderr() ?? ''}`;
  for (const step of steps) {
    if (step.kind === 'first shell') {
      expect(first, `examples/README.md, ${name}: one first-shell block`).toBeUndefined();
      for (const line of step.lines.slice(0, -1)) {
        const setup = await sh(line);
        expect(setup.code, `${line}\n${setup.stderr}`).toBe(0);
        setupOutput += setup.stdout;
      }
      const command = /^node bin\/flowd\.js (.+?)(?: < (\S+))?$/.exec(step.lines.at(-1)!);
      expect(command, `examples/README.md, ${name}: the first shell ends with a node bin/flowd.js command`).not.toBeNull();
      const input = command![2] === undefined ? undefined : await readFile(path.join(ROOT, command![2]), 'utf8');
      first = flowd(command![1]!.split(' '), input === undefined ? {} : { input });
      if (example.ready) await within(20_000, first.waitFor('stderr', example.ready), () => `${name} never got ready:\n${firstShell()}`);
      else expect((await first.exit).code, firstShell()).toBe(0);
    } else if (step.kind === 'second shell') {
      expect(example.ready, `examples/README.md, ${name}: a second shell only beside a daemon`).toBeDefined();
      let output = '';
      for (const typed of step.lines) {
        const line = example.fill ? example.fill(typed, previous) : typed;
        const result = await sh(line);
        expect(result.code, `${line}\n${result.stdout}${result.stderr}`).toBe(0);
        output += result.stdout.endsWith('\n') || result.stdout === '' ? result.stdout : `${result.stdout}\n`;
      }
      previous = output;
    } else if (step.kind === 'first shell shows') {
      for (const shown of step.lines) {
        if (stdoutPattern(shown).test(setupOutput)) continue;
        const never = () => `${name}: the first shell never showed "${shown}":\n${firstShell()}`;
        // Either promise rejects once flowd has exited without showing the line; a daemon that stays silent runs into within().
        const seen = Promise.any([first!.waitFor('stdout', stdoutPattern(shown)), first!.waitFor('stderr', logPattern(shown))]).catch(() =>
          Promise.reject(new Error(never())),
        );
        await within(20_000, seen, never);
      }
    } else {
      for (const shown of step.lines) expect(previous, `${name}: the second shell shows "${shown}"`).toMatch(stdoutPattern(shown));
    }
  }
  if (first!.child.exitCode === null && first!.child.signalCode === null) {
    first!.child.kill('SIGINT');
    expect((await first!.exit).code, firstShell()).toBe(0);
  }
  await example.verify?.(first!);
}

const guide = async (): Promise<Map<string, Step[]>> => readGuide(await readFile(GUIDE, 'utf8'));

describe('the examples, run as examples/README.md says', () => {
  it('are started in examples/README.md with the command these tests run (node bin/flowd.js, which needs no link), linked from the README', async () => {
    const text = await readFile(GUIDE, 'utf8');
    for (const example of [
      'hello/hello.ini',
      'lines/lines.ini < examples/lines/orders.jsonl',
      'inbox/inbox.ini',
      'web/web.ini',
      'queue/queue.ini',
      'xmlimport/xmlimport.ini',
      'metadatamapper/metadatamapper.ini',
      'transfer/transfer.ini < examples/transfer/transfer.json',
      'xmlexport/xmlexport.ini < examples/xmlexport/export.json',
      'events/events.ini',
      'video/video.ini',
      'tutorial/tutorial.ini',
    ]) {
      expect(text).toContain(`node bin/flowd.js run examples/${example}\n`);
    }
    expect(text).toContain('node bin/flowd.js workflow start examples/video/video.ini UploadWorkflow');
    expect(text).toContain('node bin/flowd.js workflow start examples/tutorial/tutorial.ini UploadWorkflow');
    expect(text).not.toMatch(/^npx flowd/m);
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && node bin/flowd.js run examples/hello/hello.ini');
    expect(readme).toContain('examples/README.md');
  });

  it('has a section for every example folder, and each folder is run below', async () => {
    const folders = (await readdir(path.join(ROOT, 'examples'), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect([...(await guide()).keys()].sort()).toEqual(folders.sort());
    expect(Object.keys(EXAMPLES).sort()).toEqual(folders.sort());
  });

  it('hides no step in an INI comment: the comments name no command', async () => {
    for (const folder of Object.keys(EXAMPLES)) {
      for (const file of (await readdir(path.join(ROOT, 'examples', folder))).filter((f) => f.endsWith('.ini'))) {
        const comments = (await readFile(path.join(ROOT, 'examples', folder, file), 'utf8'))
          .split('\n')
          .filter((line) => /^\s*[;#]/.test(line));
        expect(
          comments.filter((line) => /\b(node|npx|curl|cp|mkdir|echo)\s/.test(line)),
          `examples/${folder}/${file}`,
        ).toEqual([]);
      }
    }
  });

  it.each(Object.keys(EXAMPLES))(
    'examples/%s runs as written and leaves git status of examples/ as it was',
    async (name) => {
      const example = EXAMPLES[name]!;
      const steps = (await guide()).get(name);
      expect(steps, `examples/README.md has a section "## ${name}"`).toBeDefined();
      const before = await gitStatus();
      await clear(example);
      try {
        await runAsGuided(name, steps!, example);
        // Before the state is cleared: what the example wrote is ignored by git (or outside the clone).
        expect(await gitStatus()).toBe(before);
      } finally {
        await clear(example);
      }
    },
    60_000,
  );

  it('flowd check accepts every example', async () => {
    for (const name of Object.keys(EXAMPLES)) {
      const run = flowd(['check', `examples/${name}/${name}.ini`]);
      expect((await run.exit).code, run.stderr()).toBe(0);
      expect(run.stdout()).toMatch(/: ok: /);
    }
  });
});
