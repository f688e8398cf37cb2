/**
 * The disk image bench/blk measures on: a temporary raw file in which every
 * 4 KiB block starts with a tag derived from its byte offset (the rest is
 * a fixed non-zero pattern, so no block is a hole). The guest and
 * host-io.c check the tag of what they read and keep tags intact when they
 * write, so a request that reached the wrong offset shows up as an error.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TAG_BLOCK_BYTES = 4096;
/** XORed into each offset ("tkvm" in the high half); matches the C side. */
const TAG_MAGIC = 0x746b766d00000000n;
const FILL_BYTE = 0xa5;
const WRITE_CHUNK_BYTES = 1 << 20;

/** The u64 (little-endian) at the start of the 4 KiB block at `offset`. */
export function blockTag(offset: number): bigint {
  return BigInt(offset) ^ TAG_MAGIC;
}

/** Fills `chunk` as the image bytes starting at file offset `base`. */
export function fillTaggedChunk(chunk: Uint8Array, base: number): void {
  chunk.fill(FILL_BYTE);
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let at = 0; at + 8 <= chunk.length; at += TAG_BLOCK_BYTES) view.setBigUint64(at, blockTag(base + at), true);
}

/**
 * Writes a tagged image of `bytes` bytes (a multiple of 4 KiB) at `path`
 * and syncs it, so that it starts out clean and entirely in the page cache.
 */
export function writeTaggedImage(path: string, bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % TAG_BLOCK_BYTES !== 0) {
    throw new RangeError(`image size ${bytes} is not a positive multiple of ${TAG_BLOCK_BYTES}`);
  }
  const fd = openSync(path, 'w');
  try {
    const chunk = new Uint8Array(Math.min(WRITE_CHUNK_BYTES, bytes));
    for (let offset = 0; offset < bytes; offset += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - offset));
      fillTaggedChunk(part, offset);
      for (let done = 0; done < part.length;) done += writeSync(fd, part, done, part.length - done, offset + done);
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes back whatever a run dirtied (outside any timed region). */
export function syncImage(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A tagged image in a fresh temporary directory; remove() deletes both. */
export interface TempImage {
  path: string;
  bytes: number;
  remove(): void;
}

export function createTempImage(bytes: number, directory = tmpdir()): TempImage {
  const dir = mkdtempSync(join(directory, 'tkvm-blk-'));
  const path = join(dir, 'disk.img');
  try {
    writeTaggedImage(path, bytes);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { path, bytes, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
