/**
 * Console attach on a real VM: the serial-shell test guest, driven through
 * the control socket's `console` command by two clients and by the
 * terminal of `tkvm run` at the same time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, guestPath, requireKvm } from '../testing/kvm.js';
import { attachConsole } from './client.js';

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('console clients see the recent output and live output of a running guest, and their input runs commands in it', async (t) => {
  if (!requireKvm(t, 'serial-shell')) return;
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'tkvm-console-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  const name = `shell-${process.pid}`;
  const child = spawn(process.execPath, [CLI, 'run', '--debug-exit', '--kernel', guestPath('serial-shell'), '--mem', '32M', '--name', name], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let terminal = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => void (terminal += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await until(() => terminal.includes('tkvm> '), 'the prompt on the terminal');

  const a = { text: '', closed: false };
  const first = await attachConsole(name, { onOutput: (d) => void (a.text += d), onClose: () => void (a.closed = true) }, { dir: path.join(runtimeDir, 'tkvm') });
  await until(() => a.text.length >= first.replayBytes, 'the replay');
  assert.equal(a.text, 'serial-shell ready\ntkvm> ', 'the replay is the output so far');

  assert.equal(await first.write(Buffer.from('rev console\r')), 12);
  await until(() => a.text.includes('elosnoc\ntkvm> '), 'the guest to answer the first client');

  const b = { text: '' };
  const second = await attachConsole(name, { onOutput: (d) => void (b.text += d) }, { dir: path.join(runtimeDir, 'tkvm') });
  t.after(() => second.close());
  await second.write(Buffer.from('sum 40 2\r'));
  await until(() => a.text.includes('42\n') && b.text.includes('42\n'), 'both clients to see the sum');
  assert.ok(b.text.startsWith('serial-shell ready\ntkvm> rev console\nelosnoc\n'), JSON.stringify(b.text));

  // The terminal of tkvm run still types into the guest, and sees what the clients typed.
  child.stdin.write('rev tty\r');
  await until(() => a.text.includes('ytt\n'), 'the terminal input to reach the guest');
  assert.ok(terminal.includes('elosnoc\n') && terminal.includes('42\n'), JSON.stringify(terminal));

  await first.write(Buffer.from('quit\r'));
  assert.equal(await exited, 33, stderr);
  await until(() => a.closed, 'the connection to close when the VM ends');
  assert.ok(a.text.includes('serial-shell ok'));
});
