/**
 * Splits a byte stream into newline-terminated lines with a size limit, so
 * a peer that never sends a newline cannot make us buffer without bound.
 */

export type LineEvent = { kind: 'line'; line: Buffer } | { kind: 'oversized' };

export class LineReader {
  private readonly maxLineBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overflowed = false;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes received that do not yet form a whole line. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds a chunk and returns the complete lines it finishes (without the
   * newline). Once a line exceeds the limit, returns `oversized` once and
   * ignores all further input: the stream cannot be resynchronized.
   */
  push(chunk: Buffer): LineEvent[] {
    if (this.overflowed) return [];
    const events: LineEvent[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.pendingBytes + (end - start) > this.maxLineBytes) {
        this.overflowed = true;
        this.pending = [];
        this.pendingBytes = 0;
        events.push({ kind: 'oversized' });
        return events;
      }
      if (newline === -1) {
        if (end > start) {
          this.pending.push(chunk.subarray(start, end));
          this.pendingBytes += end - start;
        }
        return events;
      }
      const piece = chunk.subarray(start, end);
      const line = this.pendingBytes === 0 ? piece : Buffer.concat([...this.pending, piece]);
      this.pending = [];
      this.pendingBytes = 0;
      events.push({ kind: 'line', line });
      start = newline + 1;
    }
  }
}
