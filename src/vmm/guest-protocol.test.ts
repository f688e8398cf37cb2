import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestProtocolTap } from './guest-protocol.js';

function feed(text: string): { out: string; statuses: number[]; inits: number } {
  let out = '';
  const statuses: number[] = [];
  let inits = 0;
  const tap = new GuestProtocolTap((b) => { out += String.fromCharCode(b); }, { onExitStatus: (s) => statuses.push(s), onInitStart: () => inits++ });
  for (const ch of text) tap.push(ch.charCodeAt(0));
  tap.flush();
  return { out, statuses, inits };
}

test('marker lines are swallowed and reported; everything else passes through', () => {
  const r = feed('TKVM_INIT_START\nhello\nTKVM_EXIT_STATUS=7\r\n# ');
  assert.equal(r.out, 'hello\n\n# ');
  assert.deepEqual(r.statuses, [7]);
  assert.equal(r.inits, 1);
});

test('a prompt without a newline is not held back', () => {
  let out = '';
  const tap = new GuestProtocolTap((b) => { out += String.fromCharCode(b); }, {});
  for (const ch of '~ # ') tap.push(ch.charCodeAt(0));
  assert.equal(out, '~ # ');
});

test('a stalled line that looks like a marker start is let out after a while', async () => {
  let out = '';
  const tap = new GuestProtocolTap((b) => { out += String.fromCharCode(b); }, {});
  for (const ch of 'TK') tap.push(ch.charCodeAt(0));
  assert.equal(out, '');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(out, 'TK');
});

test('lines that only start like a marker are passed through intact', () => {
  const r = feed('TKVM_EXIT_STATUS=12x\nTKVM_INIT\nsay TKVM_INIT_START\nTKVM_EXIT_STATUS=999\n');
  assert.equal(r.out, 'TKVM_EXIT_STATUS=12x\nTKVM_INIT\nsay TKVM_INIT_START\nTKVM_EXIT_STATUS=999\n');
  assert.deepEqual(r.statuses, []);
});

test('property: text without markers comes out byte for byte', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary-ascii', maxLength: 200 }), (s) => {
    fc.pre(!s.includes('TKVM_'));
    assert.equal(feed(s).out, s);
  }));
});
