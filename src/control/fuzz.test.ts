/**
 * Throws 1,000 hostile messages at a control server over many connections
 * and checks that it answers each complete line exactly once, never throws,
 * and still serves `list`/`info` correctly afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { callVm, listVms } from './client.js';
import { FakeController } from './fake-controller.js';
import { COMMAND_NAMES, MAX_REQUEST_BYTES, encodeRequest, validateResponse } from './protocol.js';
import { ControlServer } from './server.js';
import { exchange, tempControlDir } from './fixtures.js';

const MESSAGES = 1000;
const PER_CONNECTION = 10;

const newlineIf = (nl: boolean): Buffer => Buffer.from(nl ? '\n' : '');

/** Whole valid requests: a quick one, and `stat`, which the fake answers too slowly (ERR_TIMEOUT). */
const validRequest = fc.constantFrom(Buffer.from('{"v":1,"id":77,"cmd":"info"}\n'), Buffer.from('{"v":1,"id":78,"cmd":"stat"}\n'));

const randomBytes = fc
  .tuple(fc.uint8Array({ maxLength: 200 }), fc.boolean())
  .map(([bytes, nl]) => Buffer.concat([Buffer.from(bytes), newlineIf(nl)]));

const randomJson = fc.json().map((json) => Buffer.from(json + '\n'));

/** Objects shaped like requests, with random field values. */
const requestLike = fc
  .record(
    {
      v: fc.oneof(fc.constant(1), fc.anything()),
      id: fc.oneof(fc.nat(), fc.anything()),
      // Half known commands, half unknown ones, however many commands there are.
      cmd: fc.oneof(fc.constantFrom(...COMMAND_NAMES), fc.constantFrom('x', '', 'reboot')),
      args: fc.anything(),
    },
    { requiredKeys: [] },
  )
  .map((r) => Buffer.from(JSON.stringify(r) + '\n'));

/** Valid requests cut at a random point, with or without a newline after the cut. */
const truncatedRequest = fc
  .tuple(fc.constantFrom(...COMMAND_NAMES.filter((c) => c !== 'stop')), fc.nat(), fc.nat(), fc.boolean())
  .map(([cmd, id, cut, nl]) => {
    const args = cmd === 'nmi' ? { cpu: 1 } : cmd === 'sysrq' ? { key: 's' } : cmd === 'perf' ? { durationMs: 10, frequencyHz: 100 } : cmd === 'console-input' ? { data: 'aGk=' } : {};
    const full = encodeRequest(id, cmd, args as never);
    return Buffer.concat([Buffer.from(full.slice(0, cut % full.length)), newlineIf(nl)]);
  });

const oversizedLine = fc
  .integer({ min: MAX_REQUEST_BYTES + 1, max: MAX_REQUEST_BYTES + 4096 })
  .map((n) => Buffer.alloc(n, 0x7b));

const hostileMessage: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 1, arbitrary: validRequest },
  { weight: 3, arbitrary: randomBytes },
  { weight: 3, arbitrary: randomJson },
  { weight: 3, arbitrary: requestLike },
  { weight: 3, arbitrary: truncatedRequest },
  { weight: 1, arbitrary: oversizedLine }, // rarer: each ends its connection
);

/** How many replies the server owes for this byte stream (see docs/control-protocol.md). */
function expectedReplies(stream: Buffer): number {
  let count = 0;
  let start = 0;
  for (;;) {
    const newline = stream.indexOf(0x0a, start);
    const end = newline === -1 ? stream.length : newline;
    if (end - start > MAX_REQUEST_BYTES) return count + 1; // ERR_MESSAGE_TOO_LARGE, then closed
    if (newline === -1) return count; // a trailing partial line is dropped at EOF
    const line = stream.subarray(start, end);
    if (!line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d)) count++;
    start = newline + 1;
  }
}

function sendAndDrop(path: string, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      socket.write(data.subarray(0, Math.max(1, data.length >> 1)));
      socket.destroy();
    });
  });
}

test('fuzz: hostile messages never crash or wedge the control server', async () => {
  const thrown: unknown[] = [];
  const onThrow = (err: unknown): void => void thrown.push(err);
  process.on('uncaughtException', onThrow);
  process.on('unhandledRejection', onThrow);
  const tmp = tempControlDir();
  const fake = new FakeController();
  fake.delays.debug = 20;
  fake.delays.stats = 150; // some requests time out mid-fuzz
  const server = await ControlServer.start({ name: 'fuzz', controller: fake, dir: tmp.dir, callTimeoutMs: 100 });
  try {
    const messages = fc.sample(hostileMessage, { numRuns: MESSAGES, seed: 0x7e57 });
    const batches: Buffer[][] = [];
    for (let i = 0; i < messages.length; i += PER_CONNECTION) batches.push(messages.slice(i, i + PER_CONNECTION));
    let checkedReplies = 0;
    const outcomes = new Set<string>();
    // 20 connections at a time; every fifth is cut off in the middle of a message.
    for (let i = 0; i < batches.length; i += 20) {
      await Promise.all(batches.slice(i, i + 20).map(async (batch, j) => {
        const stream = Buffer.concat(batch);
        if ((i + j) % 5 === 4) return sendAndDrop(server.path, stream);
        const replies = await exchange(server.path, stream);
        assert.equal(replies.length, expectedReplies(stream), `connection ${i + j}: ${JSON.stringify(stream.toString("latin1"))} -> ${JSON.stringify(replies)}`);
        for (const reply of replies) {
          const response = validateResponse(JSON.parse(reply));
          if (!response.ok) assert.match(response.error.code, /^ERR_[A-Z_]+$/);
          outcomes.add(response.ok ? 'ok' : response.error.code);
        }
        checkedReplies += replies.length;
      }));
    }
    assert.ok(checkedReplies > 400, `only ${checkedReplies} replies checked`);
    const wanted = ['ok', 'ERR_BAD_JSON', 'ERR_BAD_REQUEST', 'ERR_UNKNOWN_COMMAND', 'ERR_BAD_ARGS', 'ERR_MESSAGE_TOO_LARGE', 'ERR_TIMEOUT'];
    for (const outcome of wanted) {
      assert.ok(outcomes.has(outcome), `the fuzz produced no ${outcome} reply (saw ${[...outcomes].join(', ')})`);
    }
    const info = await callVm('fuzz', 'info', {}, { dir: tmp.dir });
    assert.equal(info.pid, 4242);
    assert.deepEqual((await listVms(tmp.dir)).map((vm) => vm.pid), [4242]);
    assert.deepEqual(thrown, [], 'nothing was thrown');
  } finally {
    process.off('uncaughtException', onThrow);
    process.off('unhandledRejection', onThrow);
    await server.close();
    tmp.cleanup();
  }
});
