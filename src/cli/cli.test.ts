/**
 * End to end: runs the built `tkvm` executable (the bundle dist/tkvm/main.js) as a
 * child process. None of these cases reach KVM.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const mainScript = fileURLToPath(new URL('../../tkvm/main.js', import.meta.url));
const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function tkvm(...argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env['TKVM_DEBUG'];
  const result = spawnSync(process.execPath, [mainScript, ...argv], { encoding: 'utf8', env, timeout: 30_000, cwd: '/' });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertOneLineError(result: { status: number | null; stdout: string; stderr: string }, status: number, expected: RegExp): void {
  assert.equal(result.status, status, result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^tkvm: [^\n]+\n$/, `stderr must be exactly one line: ${JSON.stringify(result.stderr)}`);
  assert.doesNotMatch(result.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
  assert.match(result.stderr, expected);
}

describe('tkvm executable', () => {
  it('prints its version from any working directory', () => {
    for (const argv of [['--version'], ['version']]) {
      assert.deepEqual(tkvm(...argv), { status: 0, stdout: `${packageJson.version}\n`, stderr: '' });
    }
  });

  it('prints help for no arguments, help and --help', () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const result = tkvm(...argv);
      assert.equal(result.status, 0);
      assert.match(result.stdout, /^Usage: tkvm COMMAND/);
      assert.match(result.stdout, /^ {2}run +/m);
      assert.equal(result.stderr, '');
    }
    const runHelp = tkvm('help', 'run');
    assert.equal(runHelp.status, 0);
    assert.match(runHelp.stdout, /^Usage: tkvm run \[--kernel FILE\]/);
  });

  it('rejects an unknown command with status 2', () => {
    const result = tkvm('x');
    assertOneLineError(result, 2, /^tkvm: unknown command 'x' \(see tkvm help\)$/m);
  });

  it('rejects bad run flags with status 2 and one line', () => {
    const cases: [string[], RegExp][] = [
      [['run', '--exec='], /--exec needs a command/],
      [['run', '--compat', 'xen'], /--compat must be one of auto, none, pvm/],
      [['run', '--kernel'], /option '--kernel' needs a value/],
      [['run', '--kernel', 'k', '--bogus'], /unknown option '--bogus'/],
      [['run', '--kernel', 'k', '--cpus', '0'], /--cpus must be a whole number from 1 to 255/],
      [['run', '--kernel', 'k', '--mem', '1M'], /--mem '1M' is too small/],
      [['run', '--kernel', 'k', '--mem', 'lots'], /invalid --mem 'lots'/],
      [['run', '--kernel', 'k', '--mem', '16777217'], /not a multiple of the 4 KiB page size/],
      [['run', '--kernel', 'k', '--name', 'a/b'], /not a valid VM name/],
      [['run', '--kernel', 'k', 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [argv, expected] of cases) {
      assertOneLineError(tkvm(...argv), 2, expected);
    }
  });
});
