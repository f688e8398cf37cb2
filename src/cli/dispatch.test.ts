import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describeFailure, isDebugEnabled, mainUsage, runCli } from './dispatch.js';
import { commands } from './registry.js';
import { readPackageVersion } from './version.js';
import { TkvmError, UsageError } from '../util/errors.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function cli(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) }, false);
  return { status, stdout, stderr };
}

function assertOneLine(stderr: string, expected: RegExp): void {
  assert.match(stderr, /^tkvm: [^\n]*\n$/, JSON.stringify(stderr));
  assert.match(stderr, expected);
}

describe('tkvm version', () => {
  it('prints the package.json version for version and --version', async () => {
    assert.equal(readPackageVersion(), packageJson.version);
    for (const argv of [['version'], ['--version']]) {
      assert.deepEqual(await cli(...argv), { status: 0, stdout: `${packageJson.version}\n`, stderr: '' });
    }
  });

  it('takes no arguments', async () => {
    const result = await cli('version', 'x');
    assert.equal(result.status, 2);
    assertOneLine(result.stderr, /version takes no arguments/);
  });
});

describe('tkvm help', () => {
  it('prints the usage for no arguments, help, --help and -h', async () => {
    for (const argv of [[], ['help'], ['--help'], ['-h']]) {
      const result = await cli(...argv);
      assert.equal(result.status, 0, JSON.stringify(argv));
      assert.equal(result.stdout, `${mainUsage()}\n`);
      assert.equal(result.stderr, '');
    }
  });

  it('lists every registered command and the built-ins', () => {
    for (const name of [...commands.map((command) => command.name), 'help', 'version']) {
      assert.match(mainUsage(), new RegExp(`^  ${name} +\\S`, 'm'), name);
    }
  });

  it('prints a command usage for help COMMAND and COMMAND --help', async () => {
    for (const command of commands) {
      for (const argv of [['help', command.name], [command.name, '--help'], [command.name, '--cpus=1', '-h']]) {
        assert.deepEqual(await cli(...argv), { status: 0, stdout: `${command.usage}\n`, stderr: '' });
      }
    }
    assert.match((await cli('help', 'help')).stdout, /^Usage: tkvm help/);
    assert.match((await cli('help', 'version')).stdout, /^Usage: tkvm version/);
  });

  it('does not treat --help after -- as a help request', async () => {
    const result = await cli('run', '--kernel', 'x', '--', '--help');
    assert.equal(result.status, 2);
    assertOneLine(result.stderr, /unexpected argument '--help'/);
  });

  it('rejects unknown topics', async () => {
    const result = await cli('help', 'nope');
    assert.equal(result.status, 2);
    assert.equal(result.stderr, "tkvm: unknown command 'nope' (see tkvm help)\n");
    assert.equal((await cli('help', 'run', 'run')).status, 2);
  });
});

describe('dispatch errors', () => {
  it('reports an unknown command on one line with status 2', async () => {
    const result = await cli('x');
    assert.deepEqual(result, { status: 2, stdout: '', stderr: "tkvm: unknown command 'x' (see tkvm help)\n" });
  });

  it('reports an unknown top-level option', async () => {
    const result = await cli('--frobnicate');
    assert.equal(result.status, 2);
    assertOneLine(result.stderr, /unknown option '--frobnicate'/);
  });

  it('reports a command usage error with status 2', async () => {
    const result = await cli('run', '--cpus', '0', '--kernel', 'k');
    assert.equal(result.status, 2);
    assertOneLine(result.stderr, /^tkvm: run: --cpus must be a whole number/);
  });
});

describe('describeFailure', () => {
  it('prints a TkvmError as one line with its exit code', () => {
    assert.deepEqual(describeFailure(new TkvmError('ERR_X', 'no such file: k', 1), false), {
      text: 'tkvm: no such file: k\n',
      exitCode: 1,
    });
    assert.equal(describeFailure(new UsageError('bad'), false).exitCode, 2);
    assert.equal(describeFailure(new TkvmError('ERR_X', 'two\nlines\u001b', 7), false).text, 'tkvm: two lines\\x1b\n');
  });

  it('prints other errors as internal errors with a hint and no stack', () => {
    const { text, exitCode } = describeFailure(new TypeError('x is not a function'), false);
    assert.equal(exitCode, 1);
    assert.equal(text, 'tkvm: internal error: x is not a function (rerun with TKVM_DEBUG=1 to see the stack trace)\n');
    assert.equal(describeFailure('a string', false).text.split('\n').length, 2);
    assert.match(describeFailure(undefined, false).text, /^tkvm: internal error: undefined /);
  });

  it('adds the stack trace only in debug mode', () => {
    const error = new Error('boom');
    const { text } = describeFailure(error, true);
    assert.ok(text.startsWith('tkvm: internal error: boom\n'));
    assert.ok(text.includes('dispatch.test'), 'contains the stack');
    assert.ok(describeFailure(new TkvmError('ERR_X', 'm'), true).text.includes('\n    at '));
  });

  it('reads TKVM_DEBUG', () => {
    assert.equal(isDebugEnabled({}), false);
    assert.equal(isDebugEnabled({ TKVM_DEBUG: '' }), false);
    assert.equal(isDebugEnabled({ TKVM_DEBUG: '0' }), false);
    assert.equal(isDebugEnabled({ TKVM_DEBUG: '1' }), true);
  });
});
