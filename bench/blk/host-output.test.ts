import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHostIoOutput } from './host-output.js';

test('parses one line per pass', () => {
  const stdout = [
    '{"hostIo":{"pass":1,"requests":2048,"bytes":134217728,"ns":36637523,"tscTicks":95107922}}',
    '{"hostIo":{"pass":2,"requests":2048,"bytes":134217728,"ns":25686299,"tscTicks":66677416}}',
    '',
  ].join('\n');
  assert.deepEqual(parseHostIoOutput(stdout), [
    { pass: 1, requests: 2048, bytes: 134217728, ns: 36637523, tscTicks: 95107922 },
    { pass: 2, requests: 2048, bytes: 134217728, ns: 25686299, tscTicks: 66677416 },
  ]);
});

test('skips noise, truncated lines, missing or non-numeric fields and zero times', () => {
  const stdout = [
    'host-io: something',
    '{"hostIo":{"pass":1,"requests":2048,"bytes":134217728,"ns":3663',
    '{"hostIo":{"pass":1,"requests":2048,"bytes":134217728,"tscTicks":1}}',
    '{"hostIo":{"pass":1,"requests":"2048","bytes":134217728,"ns":1,"tscTicks":1}}',
    '{"hostIo":{"pass":1,"requests":2048,"bytes":134217728,"ns":0,"tscTicks":1}}',
    '{"hostIo":null}',
    '{"hostIo":{"pass":3,"requests":1,"bytes":4096,"ns":5,"tscTicks":0}}',
  ].join('\n');
  assert.deepEqual(parseHostIoOutput(stdout), [{ pass: 3, requests: 1, bytes: 4096, ns: 5, tscTicks: 0 }]);
});
