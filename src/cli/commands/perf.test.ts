/** tkvm perf against a control server with a fake VMM: the report, symbols, folded output, bad flags. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePerfCommand } from './perf.js';
import type { CommandIo } from '../../control/cli-support.js';
import { FakeController } from '../../control/fake-controller.js';
import { ControlServer } from '../../control/server.js';
import { tempControlDir } from '../../control/fixtures.js';

async function setup(t: TestContext) {
  const tmp = tempControlDir();
  const fake = new FakeController({ name: 'web', pid: 77, cpus: 2, memBytes: 1 << 28, uptimeMs: 10 });
  const server = await ControlServer.start({ name: 'web', controller: fake, dir: tmp.dir });
  const files = mkdtempSync(join(tmpdir(), 'tkvm-perf-'));
  t.after(async () => {
    await server.close();
    tmp.cleanup();
    rmSync(files, { recursive: true, force: true });
  });
  const map = join(files, 'System.map');
  writeFileSync(map, 'ffffffff81000000 T _text\nffffffff81000000 T startup_64\nffffffff81000100 t do_idle\nffffffff81000180 D some_data\nffffffff81000300 T next_fn\n');
  const io = () => {
    const captured = { out: '', err: '', dir: tmp.dir, stdout: (s: string) => void (captured.out += s), stderr: (s: string) => void (captured.err += s) } satisfies CommandIo & { out: string; err: string };
    return captured;
  };
  return { fake, io, map, files };
}

test('tkvm perf prints a header and PERCENT% SYMBOL lines, busiest first, and writes folded stacks', async (t) => {
  const { fake, io, map, files } = await setup(t);
  const out = io();
  const folded = join(files, 'out.folded');
  assert.equal(await makePerfCommand(out).run(['web', '--duration', '0.5', '--frequency', '250', '--symbols', map, '--output', folded]), 0, out.err);
  assert.deepEqual(fake.profiles, [[500, 250]]);
  const lines = out.out.trimEnd().split('\n');
  assert.equal(lines[0], '# tkvm perf web: 10 samples (9 kernel, 1 user, 1 lost) over 0.5 s at 250 Hz on 2 vCPUs');
  assert.equal(lines[1], `# symbols: ${map}`);
  // 0x...010 is in _text/startup_64 (one address, the first name kept), 0x...200 in do_idle (up to next_fn).
  assert.deepEqual(lines.slice(2, 5), [' 60.00% _text', ' 30.00% do_idle', ' 10.00% [user space]']);
  assert.equal(readFileSync(folded, 'utf8'), 'kernel;_text 6\nkernel;do_idle 3\nuser 1\n');
});

test('tkvm perf splits long runs into calls the server allows, and adds them up', async (t) => {
  const { fake, io, map } = await setup(t);
  const out = io();
  assert.equal(await makePerfCommand(out).run(['web', '--duration', '12', '--symbols', map, '--top', '1']), 0, out.err);
  assert.deepEqual(fake.profiles, [[5000, 99], [5000, 99], [2000, 99]]);
  assert.match(out.out, /^# tkvm perf web: 30 samples \(27 kernel, 3 user, 3 lost\)/);
  assert.equal(out.out.trimEnd().split('\n').length, 3);
});

test('tkvm perf reports what it gathered when the VM ends mid-profile', async (t) => {
  const { fake, io, map } = await setup(t);
  const out = io();
  const profile = fake.profile.bind(fake);
  fake.profile = async (durationMs, frequencyHz) => {
    if (fake.profiles.length === 2) throw Object.assign(new Error('VM went away'), { code: 'ERR_VM_ERROR' });
    return profile(durationMs, frequencyHz);
  };
  assert.equal(await makePerfCommand(out).run(['web', '--duration', '60', '--symbols', map]), 0, out.err);
  assert.equal(fake.profiles.length, 2);
  assert.match(out.out, /^# tkvm perf web: 20 samples .*\n# the VM ended or stopped answering after 10\.0 s of sampling\n# symbols: /);
});

test('tkvm perf: bad flags and unreadable symbols fail with one line before sampling', async (t) => {
  const { fake, io, files } = await setup(t);
  for (const [args, message] of [
    [['web', '--frequency', '5000'], /^tkvm: --frequency must be an integer from 1 to 1000, got "5000"\n$/],
    [['web', '--duration', '-1'], /^tkvm: option --duration needs a value \(write --duration=VALUE for a value that starts with -\)\n$/],
    [['web', '--duration=0'], /^tkvm: --duration must be a number from above 0 to 3600, got "0"\n$/],
    [['web', '--symbols', join(files, 'missing')], /^tkvm: cannot read symbols from .*missing: ENOENT\n$/],
    [['nosuchvm'], /^tkvm: no VM named nosuchvm/],
  ] as const) {
    const out = io();
    assert.notEqual(await makePerfCommand(out).run([...args]), 0);
    assert.match(out.err, message);
  }
  assert.deepEqual(fake.profiles, []);
});
