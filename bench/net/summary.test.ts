import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseName, gbitPerSecond, packetsPerSecond, summarizeNet, type NetCase } from './summary.js';

const machine = { pvm: true, cpu: 'x', cores: 2, kernel: 'k' };
const cases: NetCase[] = [
  { direction: 'tx', size: 64, count: 10 },
  { direction: 'tx', size: 65534, count: 10 },
  { direction: 'rx', size: 65534, count: 10 },
];
const pass = (bytes: number, frames: number, ns: number) => ({ pass: 2, frames, bytes, ns });

test('rates: Gbit/s from frame bytes, packets/s from frames', () => {
  assert.equal(gbitPerSecond(pass(1_000_000_000, 1, 1e9)), 8);
  assert.equal(packetsPerSecond(pass(64, 500, 1e6)), 500_000);
  assert.throws(() => gbitPerSecond(pass(1, 1, 0)), RangeError);
  assert.equal(caseName({ direction: 'rx', size: 1500 }), 'rx1500');
});

test('medians per side, ratios tkvm / C, targets on the largest TX and RX cases', () => {
  const r = summarizeNet({
    cases,
    tkvm: { tx64: [pass(640, 10, 1000)], tx65534: [pass(1e9, 1, 1e9), pass(1e9, 1, 2e9), pass(1e9, 1, 1.25e9)] },
    c: { tx64: [pass(640, 10, 500)], tx65534: [pass(1e9, 1, 1e9)], rx65534: [pass(1e9, 1, 1e9)] },
    params: { reps: 3 },
    machine,
    loadAverage: { start: [0], end: [0] },
    errors: { 'tkvm rx65534': 'guest failed' },
  });
  assert.equal(r.bench, 'net');
  assert.deepEqual(r.cases['tx64'], { tkvm: { gbps: 5.12, pps: 10_000_000, samples: [5.12] }, c: { gbps: 10.24, pps: 20_000_000, samples: [10.24] }, ratio: 0.5 });
  assert.equal(r.cases['tx65534']!.tkvm!.gbps, 6.4);
  assert.equal(r.cases['tx65534']!.ratio, 0.8);
  assert.equal(r.cases['rx65534']!.tkvm, null);
  assert.equal(r.cases['rx65534']!.ratio, null);
  assert.deepEqual(r.meets, { tx65534: true, rx65534: null });
  assert.deepEqual(r.errors, { 'tkvm rx65534': 'guest failed' });
});

test('no errors field when every side ran', () => {
  const r = summarizeNet({ cases: [cases[0]!], tkvm: {}, c: {}, params: {}, machine, loadAverage: { start: [], end: [] }, errors: {} });
  assert.equal('errors' in r, false);
  assert.deepEqual(r.meets, { tx64: null });
});
