import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExitCostArgs } from './exit-cost.js';

test('--path picks the exits measured; post by default; anything else is a usage error', () => {
  assert.equal(parseExitCostArgs([]).path, 'post');
  assert.equal(parseExitCostArgs(['--path', 'echo']).path, 'echo');
  assert.equal(parseExitCostArgs(['--path=uart']).path, 'uart');
  assert.throws(() => parseExitCostArgs(['--path', 'mmio']), (err: Error & { code?: string }) => {
    assert.match(err.message, /--path must be "post", "echo" or "uart", got "mmio"/);
    return true;
  });
});
