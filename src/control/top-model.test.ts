/** tkvm top's rates, sorting and text form, from hand-made samples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRows, formatRate, nextSortKey, renderTopText, sortRows, SORT_KEYS, type SortKey, type VmSample } from './top-model.js';
import type { VmStats } from '../vmm/controller.js';

function sample(name: string, atMs: number, exits: Array<Record<string, number>>, devices: Array<[string, Record<string, number>]>, extra: { pid?: number; rss?: number; cpus?: number } = {}): VmSample {
  const stats: VmStats = {
    vcpus: exits.map((e, id) => ({ id, exits: e })),
    devices: devices.map(([n, counters]) => ({ name: n, counters })),
    rssBytes: extra.rss ?? 64 << 20,
  };
  return { info: { name, pid: extra.pid ?? 100, state: 'running', cpus: extra.cpus ?? exits.length, memBytes: 256 << 20, uptimeMs: 5000 }, stats, atMs };
}

test('rates are deltas over the sample interval, summed over vCPUs and byte counters', () => {
  const before = sample('a', 1000, [{ io: 100, mmio: 10 }, { io: 50 }], [['virtio-blk (d)', { readBytes: 0, writtenBytes: 4096, requests: 3 }]]);
  const after = sample('a', 3000, [{ io: 300, mmio: 50, hlt: 8 }, { io: 250 }], [['virtio-blk (d)', { readBytes: 8192, writtenBytes: 4096, requests: 7 }]]);
  const [row] = computeRows(new Map([['a', before]]), [after]);
  assert.ok(row);
  assert.equal(row.exitsPerSecond, (200 + 40 + 8 + 200) / 2);
  assert.deepEqual(row.exitReasons, [['io', 200], ['mmio', 20], ['hlt', 4]]);
  assert.equal(row.ioBytesPerSecond, 4096);
  assert.deepEqual(row.devices[0]?.perSecond, { readBytes: 4096, writtenBytes: 0, requests: 2 });
});

test('a first sample, a restarted VM (new pid) and a missing stat have no rates; a counter reset counts from zero', () => {
  const first = computeRows(new Map(), [sample('a', 0, [{ io: 5 }], [])]);
  assert.equal(first[0]?.exitsPerSecond, null);
  assert.equal(first[0]?.ioBytesPerSecond, null);
  const restarted = computeRows(new Map([['a', sample('a', 0, [{ io: 5 }], [], { pid: 1 })]]), [sample('a', 1000, [{ io: 9 }], [], { pid: 2 })]);
  assert.equal(restarted[0]?.exitsPerSecond, null);
  const unanswered = { ...sample('a', 1000, [{ io: 9 }], []), stats: null };
  assert.equal(computeRows(new Map([['a', sample('a', 0, [{ io: 5 }], [])]]), [unanswered])[0]?.exitsPerSecond, null);
  const reset = computeRows(new Map([['a', sample('a', 0, [{ io: 500 }], [])]]), [sample('a', 1000, [{ io: 7 }], [])]);
  assert.equal(reset[0]?.exitsPerSecond, 7);
});

test('sorting: names ascending, numbers highest first with ties by name; s cycles through every key', () => {
  const prev = new Map([
    ['a', sample('a', 0, [{ io: 0 }], [], { rss: 10 })],
    ['b', sample('b', 0, [{ io: 0 }], [], { rss: 30 })],
    ['c', sample('c', 0, [{ io: 0 }], [], { rss: 20 })],
  ]);
  const rows = computeRows(prev, [sample('b', 1000, [{ io: 5 }], [], { rss: 30 }), sample('a', 1000, [{ io: 50 }], [], { rss: 10 }), sample('c', 1000, [{ io: 5 }], [], { rss: 20 })]);
  assert.deepEqual(sortRows(rows, 'name').map((r) => r.name), ['a', 'b', 'c']);
  assert.deepEqual(sortRows(rows, 'exits').map((r) => r.name), ['a', 'b', 'c']);
  assert.deepEqual(sortRows(rows, 'rss').map((r) => r.name), ['b', 'c', 'a']);
  let key: SortKey = SORT_KEYS[0];
  const seen = new Set<string>();
  for (let i = 0; i < SORT_KEYS.length; i++) {
    seen.add(key);
    key = nextSortKey(key);
  }
  assert.equal(key, SORT_KEYS[0]);
  assert.equal(seen.size, SORT_KEYS.length);
});

test('the text form has one line per VM under the header', () => {
  const rows = computeRows(new Map([['web', sample('web', 0, [{ io: 0 }], [['net', { rxBytes: 0 }]])]]), [sample('web', 1000, [{ io: 12_345 }], [['net', { rxBytes: 2048 }]])]);
  const lines = renderTopText(rows).trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /^NAME\s+PID\s+STATE\s+CPUS\s+MEMORY\s+RSS\s+UPTIME\s+EXITS\/S\s+TOP EXITS\s+I\/O$/);
  assert.match(lines[1] ?? '', /^web\s+100\s+running\s+1\s+256M\s+64M\s+5s\s+12\.3k\s+io 12\.3k\s+2K\/s$/);
  assert.equal(renderTopText([]), 'no running VMs\n');
  assert.equal(formatRate(999), '999');
  assert.equal(formatRate(2_500_000), '2.50M');
});
