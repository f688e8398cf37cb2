import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type LogLevel, rateLimited } from './log.js';

function capture(): { lines: string[]; sink: (level: LogLevel, m: string) => void } {
  const lines: string[] = [];
  return { lines, sink: (level, m) => lines.push(`${level}: ${m}`) };
}

test('10^5 warnings from one source produce a bounded number of lines, then a summary', () => {
  let t = 0;
  const { lines, sink } = capture();
  const limit = { burst: 20, perInterval: 5, intervalMs: 1000 };
  const a = rateLimited('virtio-blk', limit, () => t, sink);
  for (let i = 0; i < 100_000; i++) {
    a.warn(`bad request ${i}`);
    t += 0.01; // 10^5 lines in 1 s of clock
  }
  assert.ok(lines.length <= limit.burst + 2 * limit.perInterval, `${lines.length} lines`);
  assert.ok(a.suppressed >= 100_000 - lines.length);
  t += 10_000;
  a.warn('after the flood');
  assert.match(lines.at(-2)!, /^warn: suppressed \d+ messages from virtio-blk$/);
  assert.equal(lines.at(-1), 'warn: after the flood');
});

test("one source's flood does not suppress another's", () => {
  const t = 0;
  const { lines, sink } = capture();
  const a = rateLimited('a', undefined, () => t, sink);
  const b = rateLimited('b', undefined, () => t, sink);
  for (let i = 0; i < 10_000; i++) a.warn('flood');
  b.error('b still speaks');
  assert.equal(lines.at(-1), 'error: b still speaks');
});
