import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { blockTag, createTempImage, fillTaggedChunk, TAG_BLOCK_BYTES } from './image.js';

test('every 4 KiB block starts with the tag of its offset; the rest is not zero', () => {
  const image = createTempImage(3 * TAG_BLOCK_BYTES);
  try {
    const bytes = readFileSync(image.path);
    assert.equal(bytes.length, 3 * TAG_BLOCK_BYTES);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let offset = 0; offset < bytes.length; offset += TAG_BLOCK_BYTES) {
      assert.equal(view.getBigUint64(offset, true), blockTag(offset));
      assert.equal(bytes[offset + 8], 0xa5);
    }
    // The tag the C side computes for 0x10000: offset ^ 0x746b766d00000000.
    assert.equal(blockTag(0x10000), 0x746b766d00010000n);
  } finally {
    image.remove();
  }
  assert.equal(existsSync(image.path), false);
});

test('a chunk is tagged by its file offset, not its own', () => {
  const chunk = new Uint8Array(2 * TAG_BLOCK_BYTES);
  fillTaggedChunk(chunk, 1 << 20);
  const view = new DataView(chunk.buffer);
  assert.equal(view.getBigUint64(TAG_BLOCK_BYTES, true), blockTag((1 << 20) + TAG_BLOCK_BYTES));
});

test('image sizes must be whole 4 KiB blocks', () => {
  assert.throws(() => createTempImage(1000), RangeError);
  assert.throws(() => createTempImage(0), RangeError);
});
