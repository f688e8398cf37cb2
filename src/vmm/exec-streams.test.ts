import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { ExecStreams, STDERR_PORT, STDIN_PORT, STDOUT_PORT, type PortsBackend } from './exec-streams.js';

/** A device side that records port input and blocks input while `blocked`; drain resolves when `drained` is called. */
class FakeBackend implements PortsBackend {
  input: Array<{ port: number; bytes: Buffer; end: boolean }> = [];
  blocked = false;
  drainCalls = 0;
  #drained: Array<(ok: boolean) => void> = [];
  sendPortInput(port: number, bytes: Uint8Array, end = false): void {
    this.input.push({ port, bytes: Buffer.from(bytes), end });
  }
  get inputBlocked(): boolean {
    return this.blocked;
  }
  drain(): Promise<boolean> {
    this.drainCalls++;
    return new Promise((resolve) => this.#drained.push(resolve));
  }
  finishDrain(ok = true): void {
    for (const resolve of this.#drained.splice(0)) resolve(ok);
  }
}

/** A writable that keeps what it was given, and completes each write only when released (a slow reader). */
class HeldWritable extends Writable {
  chunks: Buffer[] = [];
  #held: Array<() => void> = [];
  hold = false;
  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.hold) this.#held.push(() => callback());
    else callback();
  }
  release(): void {
    for (const done of this.#held.splice(0)) done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function setup() {
  const input = new PassThrough();
  const stdout = new HeldWritable();
  const stderr = new HeldWritable();
  const backend = new FakeBackend();
  let brokenPipes = 0;
  const streams = new ExecStreams({ input, stdout, stderr, onBrokenPipe: () => { brokenPipes++; } });
  streams.attach(backend);
  return { input, stdout, stderr, backend, streams, brokenPipes: () => brokenPipes };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('stdout and stderr ports reach their own streams byte for byte; the stdin port\'s output is dropped', async () => {
  const { stdout, stderr, streams } = setup();
  const sent: number[] = [];
  const exact = Buffer.from([0x61, 0x0a, 0x62, 0x0d, 0x0a, 0x00, 0xff]);
  streams.output(exact, () => sent.push(STDOUT_PORT), STDOUT_PORT);
  streams.output(Buffer.from('err\n'), () => sent.push(STDERR_PORT), STDERR_PORT);
  streams.output(Buffer.from('echoed'), () => sent.push(STDIN_PORT), STDIN_PORT);
  await tick();
  assert.deepEqual(stdout.bytes, exact);
  assert.equal(stderr.bytes.toString(), 'err\n');
  assert.deepEqual(sent.sort(), [STDIN_PORT, STDOUT_PORT, STDERR_PORT]);
});

test('output flow control: `sent` is called only once the stream has written the bytes', async () => {
  const { stdout, streams } = setup();
  stdout.hold = true;
  let sent = 0;
  streams.output(Buffer.from('slow'), () => { sent++; }, STDOUT_PORT);
  await tick();
  assert.equal(sent, 0, 'the reader has not taken it yet');
  stdout.release();
  await tick();
  assert.equal(sent, 1);
});

test('stdin goes to the stdin port; it pauses while the device is full and resumes on room; its end is sent as end of input', async () => {
  const { input, backend, streams } = setup();
  input.write('line 1\n');
  await tick();
  assert.deepEqual(backend.input.map((i) => [i.port, i.bytes.toString(), i.end]), [[STDIN_PORT, 'line 1\n', false]]);
  backend.blocked = true;
  input.write(Buffer.from([0, 1, 2]));
  await tick();
  assert.equal(input.isPaused(), true, 'the guest has not taken enough: stop reading');
  input.write('more');
  await tick();
  assert.equal(backend.input.length, 2, 'nothing read while paused');
  backend.blocked = false;
  streams.inputRoom();
  await tick();
  assert.equal(backend.input.length, 3);
  input.end();
  await tick();
  assert.deepEqual(backend.input.at(-1), { port: STDIN_PORT, bytes: Buffer.alloc(0), end: true });
  assert.deepEqual(Buffer.concat(backend.input.map((i) => i.bytes)), Buffer.concat([Buffer.from('line 1\n'), Buffer.from([0, 1, 2]), Buffer.from('more')]));
});

test('finish: stops reading stdin, drains the device, and resolves only after the last write completed', async () => {
  const { input, stdout, backend, streams } = setup();
  stdout.hold = true;
  let finished: boolean | undefined;
  const finishing = streams.finish(5_000).then((ok) => { finished = ok; });
  await tick();
  assert.equal(backend.drainCalls, 1);
  input.write('typed after exit');
  // Output the device hands over while draining (the guest's last bytes).
  streams.output(Buffer.from('last words'), () => {}, STDOUT_PORT);
  backend.finishDrain();
  await tick();
  assert.equal(finished, undefined, 'stdout has not written the last bytes yet');
  stdout.release();
  await finishing;
  assert.equal(finished, true);
  assert.equal(stdout.bytes.toString(), 'last words');
  assert.equal(backend.input.length, 0, 'stdin is no longer read after finish');
});

test('finish gives up after its timeout when stdout never takes the bytes', async () => {
  const { stdout, backend, streams } = setup();
  stdout.hold = true;
  streams.output(Buffer.from('stuck'), () => {}, STDOUT_PORT);
  const finishing = streams.finish(50);
  backend.finishDrain();
  assert.equal(await finishing, false);
});

test('a broken stdout (EPIPE) is reported once, and later output for it is dropped', async () => {
  const input = new PassThrough();
  let writes = 0;
  const stdout = new Writable({ write(_chunk, _enc, callback) { writes++; callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); } });
  stdout.on('error', () => {});
  let broken = 0;
  const streams = new ExecStreams({ input, stdout, stderr: new HeldWritable(), onBrokenPipe: () => { broken++; } });
  streams.attach(new FakeBackend());
  let sent = 0;
  streams.output(Buffer.from('a'), () => { sent++; }, STDOUT_PORT);
  await tick();
  streams.output(Buffer.from('b'), () => { sent++; }, STDOUT_PORT);
  await tick();
  assert.equal(broken, 1);
  assert.equal(writes, 1);
  assert.equal(sent, 2, 'the device window is returned either way');
  streams.close();
});
