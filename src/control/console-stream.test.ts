/** The `console` and `console-input` control commands against a real control server with a fake VMM. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FakeController } from './fake-controller.js';
import { ControlServer } from './server.js';
import { tempControlDir } from './fixtures.js';
import { attachConsole, callVm } from './client.js';
import { CONSOLE_BACKLOG_BYTES } from './console-stream.js';

async function setup(t: TestContext) {
  const tmp = tempControlDir();
  const fake = new FakeController();
  const server = await ControlServer.start({ name: 'vm', controller: fake, dir: tmp.dir });
  t.after(async () => {
    await server.close();
    tmp.cleanup();
  });
  return { fake, server, opts: { dir: tmp.dir } };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an attached client gets the recent output first, then live output; several clients see the same stream', async (t) => {
  const { fake, opts } = await setup(t);
  fake.console.publish(Buffer.from('boot log\n'));
  const a = { text: '', closed: false };
  const b = { text: '' };
  const first = await attachConsole('vm', { onOutput: (d) => void (a.text += d), onClose: () => void (a.closed = true) }, opts);
  assert.equal(first.replayBytes, 9);
  fake.console.publish(Buffer.from('$ '));
  const second = await attachConsole('vm', { onOutput: (d) => void (b.text += d) }, opts);
  assert.equal(second.replayBytes, 11);
  fake.console.publish(Buffer.from('ls\n'));
  await until(() => a.text.endsWith('ls\n') && b.text.endsWith('ls\n'), 'live output on both');
  assert.equal(a.text, 'boot log\n$ ls\n');
  assert.equal(b.text, 'boot log\n$ ls\n');
  assert.equal(fake.console.listenerCount, 2);

  // Input from either client reaches the guest console, in order.
  assert.equal(await first.write(Buffer.from('uname\r')), 6);
  assert.equal(await second.write(Uint8Array.of(0x01, 0x78)), 2);
  assert.deepEqual(fake.consoleInput, [...Buffer.from('uname\r'), 0x01, 0x78]);

  first.close();
  await until(() => a.closed && fake.console.listenerCount === 1, 'the first client to detach');
  second.close();
  await until(() => fake.console.listenerCount === 0, 'the second client to detach');
});

test('input larger than one request is split, and what the guest console cannot queue is reported as not accepted', async (t) => {
  const { fake, opts } = await setup(t);
  const session = await attachConsole('vm', { onOutput: () => {} }, opts);
  t.after(() => session.close());
  assert.equal(await session.write(new Uint8Array(70_000).fill(0x61)), 70_000);
  assert.equal(fake.calls.writeConsole, 3, '32 KiB per request');
  fake.consoleInputRoom = 10;
  assert.equal(await session.write(new Uint8Array(100)), 10);
  // console-input needs no attachment.
  assert.deepEqual(await callVm('vm', 'console-input', { data: Buffer.from('hi').toString('base64') }, opts), { accepted: 2 });
});

/** A raw connection: the test controls reading, and sees every line. */
function rawConnection(path: string): Promise<{ socket: Socket; lines: () => string[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => void (text += d));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, lines: () => text.split('\n').filter((l) => l.length > 0) }));
  });
}

test('a second console attach on one connection is refused; the first stays attached', async (t) => {
  const { fake, server } = await setup(t);
  const { socket, lines } = await rawConnection(server.path);
  t.after(() => socket.destroy());
  socket.write('{"v":1,"id":1,"cmd":"console"}\n{"v":1,"id":2,"cmd":"console"}\n');
  await until(() => lines().length >= 2, 'two replies');
  assert.deepEqual(JSON.parse(lines()[0]!), { v: 1, id: 1, ok: true, result: { replayBytes: 0 } });
  assert.equal(JSON.parse(lines()[1]!).error.code, 'ERR_CONSOLE_ATTACHED');
  fake.console.publish(Buffer.from('x'));
  await until(() => lines().length >= 3, 'the output event');
  assert.deepEqual(JSON.parse(lines()[2]!), { v: 1, event: 'console-output', data: 'eA==' });
  assert.equal(fake.console.listenerCount, 1);
});

test('a client that stops reading never holds up the output: its output is dropped and counted, the others get theirs', async (t) => {
  const { fake, server, opts } = await setup(t);
  const slow = await rawConnection(server.path);
  t.after(() => slow.socket.destroy());
  slow.socket.write('{"v":1,"id":1,"cmd":"console"}\n');
  await until(() => slow.lines().length === 1, 'the slow client to attach');
  slow.socket.pause();
  let fastBytes = 0;
  let fastDropped = 0;
  const fast = await attachConsole('vm', { onOutput: (d) => void (fastBytes += d.length), onDropped: (n) => void (fastDropped += n) }, opts);
  t.after(() => fast.close());

  const chunk = Buffer.alloc(4096, 0x2e);
  const total = 2048 * chunk.length; // 8 MiB: far more than any buffer on the way
  let longestPublishMs = 0;
  for (let i = 0; i < 2048; i++) {
    const started = performance.now();
    fake.console.publish(chunk);
    longestPublishMs = Math.max(longestPublishMs, performance.now() - started);
    if (i % 16 === 15) await nextTurn();
  }
  assert.ok(longestPublishMs < 50, `one publish took ${longestPublishMs.toFixed(1)} ms`);
  await until(() => fastBytes + fastDropped === total, `the fast client's ${total} bytes (got ${fastBytes} + dropped ${fastDropped})`);
  assert.ok(fastBytes > total / 2, `the reading client got ${fastBytes} of ${total}`);

  // The slow client: what it had not read stayed bounded; once it reads, it learns how much it missed.
  slow.socket.resume();
  const accounted = (): number => slow.lines().slice(1).reduce((sum, line) => {
    const event = JSON.parse(line) as { event: string; data?: string; bytes?: number };
    return sum + (event.event === 'console-output' ? Buffer.from(event.data!, 'base64').length : event.bytes!);
  }, 0);
  fake.console.publish(Buffer.from('!')); // after catching up, the next output comes with the drop report
  await until(() => accounted() === total + 1, `the slow client to account for ${total + 1} bytes (at ${accounted()})`);
  const events = slow.lines().slice(1).map((l) => JSON.parse(l) as { event: string; data?: string; bytes?: number });
  const received = events.filter((e) => e.event === 'console-output').reduce((sum, e) => sum + Buffer.from(e.data!, 'base64').length, 0);
  // Its backlog, plus what the kernel's socket buffers held: nowhere near the 8 MiB published.
  assert.ok(received <= CONSOLE_BACKLOG_BYTES + (2 << 20), `the stopped client was sent ${received} bytes`);
  assert.ok(events.some((e) => e.event === 'console-dropped'), 'it was told about the drop');
});
