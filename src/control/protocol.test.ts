import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineReader } from './line-reader.js';
import {
  COMMAND_NAMES, MAX_REQUEST_BYTES, ProtocolError, encodeConsoleDropped, encodeConsoleOutput, encodeError, encodeRequest, encodeResult, isEventMessage, parseJsonLine, validateEvent,
  parseRequest, validateRequest, validateResponse,
} from './protocol.js';

const line = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

function refused(input: Buffer): ProtocolError {
  try {
    parseRequest(input);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${input.toString()}`);
}

test('valid requests of every command parse', () => {
  assert.deepEqual(parseRequest(line({ v: 1, id: 7, cmd: 'info', args: {} })), { v: 1, id: 7, cmd: 'info', args: {} });
  assert.deepEqual(parseRequest(line({ v: 1, id: 0, cmd: 'list' })).args, {}, 'args may be omitted');
  assert.deepEqual(parseRequest(line({ v: 1, id: 1, cmd: 'stop', args: { force: true } })).args, { force: true });
  assert.deepEqual(parseRequest(line({ v: 1, id: 1, cmd: 'stop', args: {} })).args, {});
  assert.deepEqual(parseRequest(line({ v: 1, id: 2, cmd: 'nmi', args: { cpu: 3 } })).args, { cpu: 3 });
  assert.deepEqual(parseRequest(line({ v: 1, id: 3, cmd: 'sysrq', args: { key: 't' } })).args, { key: 't' });
  for (const cmd of COMMAND_NAMES) {
    const args = cmd === 'nmi' ? { cpu: 0 } : cmd === 'sysrq' ? { key: 'h' } : cmd === 'perf' ? { durationMs: 10, frequencyHz: 100 } : cmd === 'console-input' ? { data: 'aGk=' }
      : cmd === 'snapshot' ? { dir: '/tmp/snap', after: 'resume' } : {};
    assert.equal(parseRequest(Buffer.from(encodeRequest(5, cmd, args as never).trimEnd())).cmd, cmd);
  }
});

test('snapshot takes an absolute directory and resume or stop, nothing else', () => {
  assert.deepEqual(parseRequest(line({ v: 1, id: 4, cmd: 'snapshot', args: { dir: '/x/y', after: 'stop' } })).args, { dir: '/x/y', after: 'stop' });
  for (const args of [{ dir: 'relative', after: 'stop' }, { dir: '/x', after: 'later' }, { dir: '/x' }, { dir: `/${'a'.repeat(5000)}`, after: 'stop' }, { dir: '/x\0y', after: 'stop' }, { dir: '/x', after: 'stop', extra: 1 }]) {
    assert.equal(refused(line({ v: 1, id: 4, cmd: 'snapshot', args })).code, 'ERR_BAD_ARGS', JSON.stringify(args));
  }
});

test('malformed requests are refused with stable codes and keep the id when readable', () => {
  const cases: Array<[unknown, string, number | null]> = [
    ['not json', 'ERR_BAD_JSON', null],
    [[1, 2], 'ERR_BAD_REQUEST', null],
    [null, 'ERR_BAD_REQUEST', null],
    [{ id: 1, cmd: 'info' }, 'ERR_BAD_REQUEST', 1],
    [{ v: 2, id: 1, cmd: 'info' }, 'ERR_BAD_VERSION', 1],
    [{ v: '1', id: 1, cmd: 'info' }, 'ERR_BAD_VERSION', 1],
    [{ v: 1, id: -1, cmd: 'info' }, 'ERR_BAD_REQUEST', null],
    [{ v: 1, id: 1.5, cmd: 'info' }, 'ERR_BAD_REQUEST', null],
    [{ v: 1, id: '1', cmd: 'info' }, 'ERR_BAD_REQUEST', null],
    [{ v: 1, id: 2 ** 53, cmd: 'info' }, 'ERR_BAD_REQUEST', null],
    [{ v: 1, id: 1, cmd: 'info', extra: 1 }, 'ERR_BAD_REQUEST', 1],
    [{ v: 1, id: 1, cmd: 5 }, 'ERR_BAD_REQUEST', 1],
    [{ v: 1, id: 1, cmd: 'reboot' }, 'ERR_UNKNOWN_COMMAND', 1],
    [{ v: 1, id: 1, cmd: '__proto__' }, 'ERR_UNKNOWN_COMMAND', 1],
    [{ v: 1, id: 1, cmd: 'info', args: [] }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'info', args: { x: 1 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'stop', args: { force: 'yes' } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'nmi', args: {} }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'nmi', args: { cpu: -1 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'nmi', args: { cpu: 0.5 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'nmi', args: { cpu: 4096 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'sysrq', args: { key: 'tt' } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'sysrq', args: { key: 'T' } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'sysrq', args: { key: 1 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console', args: { replay: true } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console-input', args: {} }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console-input', args: { data: 'aGk' } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console-input', args: { data: 'a-k=' } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console-input', args: { data: 104 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'console-input', args: { data: Buffer.alloc(32 * 1024 + 1).toString('base64') } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'perf', args: { durationMs: 10 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'perf', args: { durationMs: 30_001, frequencyHz: 99 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'perf', args: { durationMs: 100, frequencyHz: 1001 } }, 'ERR_BAD_ARGS', 1],
    [{ v: 1, id: 1, cmd: 'perf', args: { durationMs: 100, frequencyHz: 99, cpu: 0 } }, 'ERR_BAD_ARGS', 1],
  ];
  for (const [input, code, id] of cases) {
    const err = refused(line(input));
    assert.equal(err.code, code, JSON.stringify(input));
    assert.equal(err.id, id, JSON.stringify(input));
  }
  assert.equal(refused(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])).code, 'ERR_BAD_JSON', 'invalid UTF-8');
  assert.equal(refused(Buffer.from('{"v":1,"id":1,"cmd":"info","args":{"__proto__":{"x":1}}}')).code, 'ERR_BAD_ARGS');
});

test('parseRequest never throws anything but ProtocolError (property)', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        fc.json().map((j) => Buffer.from(j)),
        fc.record({ v: fc.anything(), id: fc.anything(), cmd: fc.constantFrom(...COMMAND_NAMES, 'x'), args: fc.anything() })
          .map((r) => Buffer.from(JSON.stringify(r) ?? 'null')),
      ),
      (input) => {
        try {
          const request = parseRequest(input);
          assert.equal(request.v, 1);
          assert.ok(Number.isSafeInteger(request.id) && request.id >= 0);
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
          assert.match(err.code, /^ERR_[A-Z_]+$/);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('responses round-trip through encode and validateResponse', () => {
  const ok = validateResponse(parseJsonLine(Buffer.from(encodeResult(3, { a: 1 }))));
  assert.deepEqual(ok, { v: 1, id: 3, ok: true, result: { a: 1 } });
  assert.deepEqual(validateResponse(JSON.parse(encodeResult(4, undefined))), { v: 1, id: 4, ok: true, result: null });
  const err = validateResponse(JSON.parse(encodeError(null, 'ERR_BAD_JSON', 'no')));
  assert.deepEqual(err, { v: 1, id: null, ok: false, error: { code: 'ERR_BAD_JSON', message: 'no' } });
  assert.throws(() => validateResponse({ v: 1, id: 1, ok: false, error: { code: 'bad', message: '' } }), ProtocolError);
  assert.throws(() => validateResponse({ v: 1, id: 1, ok: true }), ProtocolError);
  assert.throws(() => validateResponse({ v: 2, id: 1, ok: true, result: 1 }), ProtocolError);
});

test('console events round-trip, and malformed ones are refused while unknown ones are ignored (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, dropped) => {
      const output = validateEvent(parseJsonLine(Buffer.from(encodeConsoleOutput(bytes).trimEnd())));
      assert.equal(output?.event, 'console-output');
      assert.deepEqual(output?.event === 'console-output' ? new Uint8Array(output.data) : null, bytes);
      assert.deepEqual(validateEvent(JSON.parse(encodeConsoleDropped(dropped))), { event: 'console-dropped', bytes: dropped });
    }),
  );
  assert.ok(isEventMessage({ v: 1, event: 'x' }));
  assert.ok(!isEventMessage({ v: 1, id: 1, ok: true, result: null }));
  assert.equal(validateEvent({ v: 1, event: 'vm-state', state: 'paused' }), null, 'a newer event is ignored');
  for (const bad of [{ v: 2, event: 'console-output', data: '' }, { v: 1, event: 'console-output', data: '!!' }, { v: 1, event: 'console-dropped', bytes: -1 }, { v: 1, event: 7 }, null]) {
    assert.throws(() => validateEvent(bad), ProtocolError, JSON.stringify(bad));
  }
});

test('LineReader reassembles lines split at any point (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\n/g, '')), { maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (lines, cuts) => {
        const bytes = Buffer.from(lines.map((l) => l + '\n').join(''));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const reader = new LineReader(1000);
        const out: string[] = [];
        let previous = 0;
        for (const point of [...points, bytes.length]) {
          for (const event of reader.push(bytes.subarray(previous, point))) {
            assert.equal(event.kind, 'line');
            if (event.kind === 'line') out.push(event.line.toString());
          }
          previous = point;
        }
        assert.deepEqual(out, lines);
        assert.equal(reader.bufferedBytes, 0);
      },
    ),
  );
});

test('LineReader reports an oversized line once and then ignores input', () => {
  const reader = new LineReader(MAX_REQUEST_BYTES);
  assert.deepEqual(reader.push(Buffer.alloc(MAX_REQUEST_BYTES, 0x41)), []);
  assert.deepEqual(reader.push(Buffer.from('\n')).map((e) => e.kind), ['line'], 'exactly the limit is allowed');
  assert.deepEqual(reader.push(Buffer.alloc(MAX_REQUEST_BYTES, 0x41)), []);
  assert.deepEqual(reader.push(Buffer.from('A\n')).map((e) => e.kind), ['oversized']);
  assert.deepEqual(reader.push(Buffer.from('{"v":1}\n')), []);
  assert.equal(reader.bufferedBytes, 0);
});

test('validateRequest accepts only the documented shape', () => {
  assert.throws(() => validateRequest({ v: 1, id: 1, cmd: 'info', args: null }), { code: 'ERR_BAD_ARGS' });
});
