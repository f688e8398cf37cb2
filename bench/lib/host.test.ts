import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuModelFromCpuinfo, hostInfo } from './host.js';

test('cpu model is the first "model name" line', () => {
  const cpuinfo = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: other\n';
  assert.equal(cpuModelFromCpuinfo(cpuinfo), 'AMD EPYC 7B13');
});

test('cpu model is "unknown" when /proc/cpuinfo has none (e.g. arm64)', () => {
  assert.equal(cpuModelFromCpuinfo('processor\t: 0\nBogoMIPS\t: 50.00\n'), 'unknown');
  assert.equal(cpuModelFromCpuinfo('model name\t:   \n'), 'unknown');
});

test('hostInfo describes this machine', () => {
  const info = hostInfo();
  assert.equal(typeof info.pvm, 'boolean');
  assert.ok(info.cpu.length > 0);
  assert.ok(info.cores >= 1);
});
