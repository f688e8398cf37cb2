import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { SerialConsole, type ConsoleInput, type ConsoleInputSink } from './console.js';
import { Serial16550 } from './serial.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A PassThrough that claims to be a TTY and records setRawMode calls. */
function fakeTty(): PassThrough & { isTTY: boolean; rawCalls: boolean[]; setRawMode(raw: boolean): PassThrough } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; rawCalls: boolean[]; setRawMode(raw: boolean): PassThrough };
  stream.isTTY = true;
  stream.rawCalls = [];
  stream.setRawMode = (raw: boolean) => {
    stream.rawCalls.push(raw);
    return stream;
  };
  return stream;
}

/** A sink with unlimited room that records what it gets ('BRK' for breaks). */
function recordingSink(): ConsoleInputSink & { got: (number | 'BRK')[] } {
  const got: (number | 'BRK')[] = [];
  return {
    got,
    enqueueInput: (bytes) => {
      got.push(...bytes);
      return bytes.length;
    },
    inputSpace: () => 1 << 30,
    sendBreak: () => {
      got.push('BRK');
      return true;
    },
  };
}

function setup<T extends ConsoleInput & NodeJS.WritableStream>(input: T) {
  const output = new PassThrough();
  const diagnostics = new PassThrough();
  const exitTarget = new EventEmitter();
  let quits = 0;
  const console = new SerialConsole({
    input,
    output,
    diagnostics,
    exitHookTarget: exitTarget,
    onQuit: () => quits++,
  });
  return {
    console,
    input,
    output,
    diagnostics,
    exitTarget,
    get quits() {
      return quits;
    },
  };
}

function readAll(stream: PassThrough): string {
  const chunk = stream.read() as Buffer | null;
  return chunk ? chunk.toString('latin1') : '';
}

test('a TTY input is put in raw mode and restored exactly once', () => {
  const tty = fakeTty();
  const c = setup(tty);
  c.console.attach(recordingSink());
  assert.deepEqual(tty.rawCalls, [true]);
  assert.equal(c.console.rawMode, true);
  c.console.restore();
  c.console.restore();
  assert.deepEqual(tty.rawCalls, [true, false]);
  assert.equal(c.console.rawMode, false);
  assert.equal(tty.listenerCount('data'), 0, 'input listeners removed');
  assert.equal(c.exitTarget.listenerCount('exit'), 0, 'exit hook removed');
});

test('attaching twice replaces the sink without doubling listeners', async () => {
  const tty = fakeTty();
  const c = setup(tty);
  const first = recordingSink();
  const second = recordingSink();
  c.console.attach(first);
  c.console.attach(second);
  assert.equal(tty.listenerCount('data'), 1);
  assert.deepEqual(tty.rawCalls, [true]);
  tty.write('k');
  await tick();
  assert.deepEqual([first.got, second.got], [[], [0x6b]]);
  c.console.restore();
});

test("the process 'exit' hook restores the terminal", () => {
  const tty = fakeTty();
  const c = setup(tty);
  c.console.attach(recordingSink());
  assert.equal(c.exitTarget.listenerCount('exit'), 1);
  c.console.output(0x21);
  c.exitTarget.emit('exit');
  assert.deepEqual(tty.rawCalls, [true, false]);
  assert.equal(readAll(c.output), '!', 'pending output flushed on exit');
});

test('restore survives a terminal that fails to leave raw mode', () => {
  const tty = fakeTty();
  tty.setRawMode = (raw: boolean) => {
    if (!raw) throw new Error('EIO');
    return tty;
  };
  const c = setup(tty);
  c.console.attach(recordingSink());
  assert.doesNotThrow(() => c.console.restore());
});

test('piped input: no raw mode, bytes pass through, EOF just stops input', async () => {
  const pipe = new PassThrough();
  const c = setup(pipe);
  const sink = recordingSink();
  c.console.attach(sink);
  pipe.end('echo hi\n');
  await tick();
  assert.deepEqual(Buffer.from(sink.got as number[]).toString(), 'echo hi\n');
  assert.equal(c.quits, 0);
  c.console.restore();
});

test('Ctrl-A x quits; the bytes before it reach the guest, the rest do not', async () => {
  const c = setup(fakeTty());
  const sink = recordingSink();
  c.console.attach(sink);
  c.input.write('ab\x01xcd');
  await tick();
  assert.equal(c.quits, 1);
  assert.deepEqual(sink.got, [0x61, 0x62]);
  c.input.write('\x01x');
  await tick();
  assert.equal(c.quits, 1, 'onQuit is called once');
});

test('Ctrl-A split across reads still escapes', async () => {
  const c = setup(fakeTty());
  c.console.attach(recordingSink());
  c.input.write('\x01');
  await tick();
  c.input.write('x');
  await tick();
  assert.equal(c.quits, 1);
});

test('Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A h prints help; other escapes are dropped', async () => {
  const c = setup(fakeTty());
  const sink = recordingSink();
  c.console.attach(sink);
  c.input.write('1\x01\x012\x01h3\x01z4');
  await tick();
  assert.deepEqual(Buffer.from(sink.got as number[]).toString('latin1'), '1\x01' + '234');
  assert.match(readAll(c.diagnostics), /C-a x\s+quit/);
  assert.equal(c.quits, 0);
});

test('Ctrl-A b sends a break in its place among the input bytes', async () => {
  const c = setup(fakeTty());
  const sink = recordingSink();
  c.console.attach(sink);
  c.input.write('a\x01bs');
  await tick();
  assert.deepEqual(sink.got, [0x61, 'BRK', 0x73]);
});

test('escapes can be turned off', async () => {
  const input = fakeTty();
  const sink = recordingSink();
  const console = new SerialConsole({
    input,
    output: new PassThrough(),
    exitHookTarget: null,
    escapes: false,
    onQuit: () => assert.fail('no quit'),
  });
  console.attach(sink);
  input.write('\x01x');
  await tick();
  assert.deepEqual(sink.got, [0x01, 0x78]);
  console.restore();
});

test('guest output is batched into one write per turn of the event loop', async () => {
  const c = setup(fakeTty());
  c.console.attach(recordingSink());
  const text = 'Linux version 6.1\r\n'.repeat(50);
  for (const b of Buffer.from(text)) c.console.output(b);
  assert.equal(c.console.stats().outputWrites, 0, 'nothing written synchronously');
  await tick();
  assert.equal(c.console.stats().outputWrites, 1);
  assert.equal(readAll(c.output), text);
});

test('output larger than a chunk is written in order, and restore flushes synchronously', () => {
  const c = setup(fakeTty());
  c.console.attach(recordingSink());
  const bytes = Buffer.alloc(10000, 0).map((_, i) => i % 251);
  for (const b of bytes) c.console.output(b);
  c.console.restore();
  const written = c.output.read() as Buffer;
  assert.deepEqual(written, bytes);
  c.console.output(0x0a);
  assert.equal(readAll(c.output), '\n', 'after restore, output is written at once');
});

test('input is fed to a real UART without overruns as the guest drains it', async () => {
  const c = setup(fakeTty());
  const uart = new Serial16550({ onOutput: () => {}, setIrqLevel: () => {} });
  uart.write(2, Uint8Array.of(0x01)); // FIFOs on, as Linux leaves them
  c.console.attach(uart);
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(10);
  c.input.write(text);
  await tick();
  assert.equal(c.console.stats().inputPending, text.length - 16, 'only what fits in the FIFO was handed over');
  const d = new Uint8Array(1);
  const received: number[] = [];
  for (;;) {
    uart.read(5, d);
    if (!(d[0]! & 1)) break;
    uart.read(0, d);
    received.push(d[0]!);
  }
  assert.equal(Buffer.from(received).toString(), text);
  assert.equal(uart.stats().overruns, 0);
  assert.equal(c.console.stats().inputPending, 0);
});

test('a TTY keeps reading (so Ctrl-A x works) and drops input beyond the limit', async () => {
  const input = fakeTty();
  let quits = 0;
  const console = new SerialConsole({
    input,
    output: new PassThrough(),
    exitHookTarget: null,
    maxPendingInput: 8,
    onQuit: () => quits++,
  });
  const full: ConsoleInputSink = { enqueueInput: () => 0, inputSpace: () => 0, sendBreak: () => false };
  console.attach(full);
  input.write('0123456789abc');
  await tick();
  assert.deepEqual(console.stats(), { inputDropped: 5, inputPending: 8, outputWrites: 0 });
  input.write('\x01x');
  await tick();
  assert.equal(quits, 1);
  console.restore();
});

test('a pipe is paused while the guest is not reading, and resumed when it drains', async () => {
  const pipe = new PassThrough();
  let space = 0;
  const got: number[] = [];
  const sink: ConsoleInputSink = {
    enqueueInput: (bytes) => {
      const n = Math.min(space, bytes.length);
      got.push(...bytes.subarray(0, n));
      space -= n;
      return n;
    },
    inputSpace: () => space,
    sendBreak: () => false,
  };
  const console = new SerialConsole({ input: pipe, output: new PassThrough(), exitHookTarget: null, maxPendingInput: 64, onQuit: () => {} });
  console.attach(sink);
  pipe.write(Buffer.alloc(40, 0x41));
  await tick();
  assert.equal(pipe.isPaused(), true);
  pipe.write(Buffer.alloc(40, 0x42));
  await tick();
  assert.equal(console.stats().inputDropped, 0, 'a paused pipe buffers rather than drops');
  space = 1000;
  console.pumpInput();
  await tick();
  console.pumpInput();
  assert.equal(pipe.isPaused(), false);
  assert.equal(got.length, 80);
  console.restore();
});

test('onOutputChunk sees exactly the chunks written to the output, and a throwing observer does not stop the output', async () => {
  const output = new PassThrough();
  const seen: string[] = [];
  let throws = true;
  const console = new SerialConsole({
    input: new PassThrough(), output, diagnostics: new PassThrough(), exitHookTarget: null, onQuit: () => {},
    onOutputChunk: (chunk) => {
      seen.push(Buffer.from(chunk).toString());
      if (throws) {
        throws = false;
        throw new Error('observer bug');
      }
    },
  });
  let written = '';
  output.on('data', (d: Buffer) => void (written += d.toString()));
  for (const b of Buffer.from('boot\n')) console.output(b);
  await tick();
  for (const b of Buffer.from('ok\n')) console.output(b);
  console.flush();
  await tick();
  assert.deepEqual(seen, ['boot\n', 'ok\n']);
  assert.equal(written, 'boot\nok\n');
});

test('injectInput queues bytes without escape processing, within the pending-input bound, even after the terminal input ended', async () => {
  const input = new PassThrough();
  const console = new SerialConsole({ input, output: new PassThrough(), diagnostics: new PassThrough(), exitHookTarget: null, onQuit: () => assert.fail('no quit'), maxPendingInput: 8 });
  // A sink with room for 4 bytes until the test makes more.
  let space = 4;
  const got: number[] = [];
  const sink: ConsoleInputSink = {
    enqueueInput: (bytes) => {
      const n = Math.min(space, bytes.length);
      got.push(...bytes.subarray(0, n));
      space -= n;
      return n;
    },
    inputSpace: () => space,
    sendBreak: () => true,
  };
  console.attach(sink);
  input.end();
  await tick();
  // Ctrl-A x is data here, not the quit escape.
  assert.equal(console.injectInput(Uint8Array.from([0x01, 0x78])), 2);
  assert.deepEqual(got, [0x01, 0x78]);
  // 2 more fit the sink; 8 may wait; the rest is dropped and counted.
  assert.equal(console.injectInput(new Uint8Array(30).fill(0x61)), 8);
  assert.equal(console.stats().inputDropped, 22);
  assert.equal(got.length, 4);
  assert.equal(console.stats().inputPending, 6);
  space = 100;
  console.pumpInput();
  assert.equal(got.length, 10);
  assert.equal(console.stats().inputPending, 0);
  console.restore();
  assert.equal(console.injectInput(Uint8Array.of(0x62)), 0, 'nothing is taken after restore');
});
