/**
 * tkvm top on a real terminal: tmux runs it against a real VM (the halt test
 * guest), the test reads the screen with capture-pane and pauses the VM
 * with a key, as a user would.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, guestPath, requireKvm, runTkvm } from '../../testing/kvm.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds for its value; fails with the last value after `timeoutMs`. */
async function until<T>(read: () => T, done: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

function requireTmux(t: TestContext): boolean {
  if (spawnSync('tmux', ['-V']).status === 0) return true;
  if (process.env['CI'] === 'true') throw new Error('tmux is missing (scripts/test-deps.sh installs it)');
  t.skip('tmux is not installed');
  return false;
}

test('in tmux, tkvm top shows a running VM and the p key pauses it', { timeout: 90_000 }, async (t) => {
  if (!requireKvm(t, 'halt') || !requireTmux(t)) return;
  const runtime = mkdtempSync(path.join(tmpdir(), 'tkvm-top-tmux-'));
  const env = { XDG_RUNTIME_DIR: runtime };
  const tmuxSocket = `tkvm-top-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', tmuxSocket, ...args], { encoding: 'utf8' });
  const vm = runTkvm(['run', '--name', 'topvm', '--kernel', guestPath('halt'), '--mem', '32M'], { timeoutMs: 80_000, keepStdinOpen: true, env });
  t.after(async () => {
    spawnSync('tmux', ['-L', tmuxSocket, 'kill-server']);
    await runTkvm(['stop', '--force', 'topvm'], { env });
    await vm;
    rmSync(runtime, { recursive: true, force: true });
  });
  const state = async (): Promise<string | undefined> => {
    const list = await runTkvm(['list', '--json'], { env });
    return list.status === 0 ? (JSON.parse(list.stdout) as Array<{ name: string; state: string }>).find((v) => v.name === 'topvm')?.state : undefined;
  };
  for (let i = 0; (await state()) !== 'running'; i++) {
    if (i > 100) assert.fail('the VM did not appear in tkvm list');
    await sleep(100);
  }
  // Ink draws nothing live when CI is set (top then prints tables): the terminal user has no CI.
  tmux('new-session', '-d', '-s', 'top', '-x', '150', '-y', '30', '-e', `XDG_RUNTIME_DIR=${runtime}`,
    `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} top --interval 0.3`);
  const screen = (): string => tmux('capture-pane', '-p', '-t', 'top');
  await until(screen, (s) => /topvm\s.*running/.test(s), 'topvm running on the top screen');
  tmux('send-keys', '-t', 'top', 'p');
  for (let i = 0; (await state()) !== 'paused'; i++) {
    if (i > 100) assert.fail(`the p key did not pause the VM; screen:\n${screen()}`);
    await sleep(100);
  }
  await until(screen, (s) => /topvm\s.*paused/.test(s), 'topvm shown as paused');
  tmux('send-keys', '-t', 'top', 'q');
  await until(() => spawnSync('tmux', ['-L', tmuxSocket, 'has-session', '-t', 'top']).status, (status) => status !== 0, 'tkvm top to quit on q');
});
