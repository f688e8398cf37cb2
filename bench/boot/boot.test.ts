import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultGuestPhases, parseTimingReport } from './boot.js';
import { cloudImagePackage } from './debian-kernel.js';

test('phases come from the timing report: setup, kernel, init', () => {
  const stderr = 'tkvm: info\n{"tkvmTiming":{"startToFirstRunMs":120.5,"marksMs":{"cli-loaded":50,"guest-init":150120.5},"status":0,"exits":[]}}\n';
  const report = parseTimingReport(stderr);
  assert.ok(report);
  assert.deepEqual(defaultGuestPhases(report, 151000), { vmmSetupMs: 120.5, kernelMs: 150000, initMs: 879.5, startToUserSpaceMs: 150120.5, cpuMs: null });
  const withCpu = parseTimingReport(stderr.replace('"exits":[]', '"exits":[],"cpuMs":149000'));
  assert.equal(withCpu && defaultGuestPhases(withCpu, 151000)?.cpuMs, 149000);
  assert.equal(defaultGuestPhases({ ...report, marksMs: {} }, 1), null);
  assert.equal(parseTimingReport('no report'), null);
  assert.equal(parseTimingReport('{"tkvmTiming": broken'), null);
});

test('the cloud kernel package is read from apt-cache depends', () => {
  const out = 'linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-41-cloud-amd64\n';
  assert.equal(cloudImagePackage(out), 'linux-image-6.1.0-41-cloud-amd64');
  assert.equal(cloudImagePackage('linux-image-cloud-amd64\n'), null);
});
