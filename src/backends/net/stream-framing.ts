/**
 * Ethernet frames over a stream socket, as passt's "qemu" socket protocol
 * carries them (passt(1), --fd): each frame is a 4-byte big-endian length,
 * then the frame. The fd is non-blocking, so a frame may go out or come in
 * a piece at a time; this keeps the framing state between calls.
 *
 * Whole frames move straight between guest RAM and the socket: one writev
 * of [length, frame iovecs] on send, one readv into the guest iovecs on
 * receive. Only the rare piecewise transfer uses a staging buffer, so that
 * no guest buffer is needed once a call has returned (a reset may take it
 * away).
 */
import { type IovecList, IovecList as Iovecs } from '../../memory/iovec-list.js';
import { NetStatus } from '../../devices/net.js';
import * as sys from '../../sys/libc.js';
import { errnoName } from '../../sys/errors.js';

/** A length word above this means the stream lost its framing: the peer is treated as gone. */
const MAX_SANE_FRAME = 256 * 1024;

export class StreamFraming {
  readonly fd: number;
  readonly maxFrameBytes: number;
  lastBytes = 0;
  lastError = '';
  /** The 4-byte length words, in memory that never moves (the kernel reads and writes it by address). */
  readonly #words = new Uint8Array(new SharedArrayBuffer(8));
  readonly #wordsAddr: number;
  readonly #sendIov = new Iovecs();
  readonly #readIov = new Iovecs(2);
  /** Bytes of a frame that went out in part, still to send. */
  readonly #outStage: Uint8Array;
  readonly #outStageAddr: number;
  #outFrom = 0;
  #outTo = 0;
  /** Receive state: length bytes read so far (0..4), then the frame's length and bytes staged. */
  readonly #inStage: Uint8Array;
  readonly #inStageAddr: number;
  #inLengthGot = 0;
  #inLength = -1;
  #inGot = 0;

  constructor(fd: number, maxFrameBytes: number) {
    this.fd = fd;
    this.maxFrameBytes = maxFrameBytes;
    this.#wordsAddr = Number(sys.addressOf(this.#words));
    this.#outStage = new Uint8Array(new SharedArrayBuffer(maxFrameBytes + 4));
    this.#outStageAddr = Number(sys.addressOf(this.#outStage));
    this.#inStage = new Uint8Array(new SharedArrayBuffer(MAX_SANE_FRAME));
    this.#inStageAddr = Number(sys.addressOf(this.#inStage));
  }

  /**
   * Sends one frame (all of `iov`). WouldBlock: call again with the same
   * frame once the fd is writable. When only part of the frame fit, the
   * rest is copied aside and WouldBlock returned; the next call sends that
   * rest and, once it is gone, returns Ok for the frame without sending
   * `iov` again (so the caller's retry completes it). The stream's framing
   * never breaks, even if the caller gives up on the frame.
   */
  send(iov: IovecList): NetStatus {
    if (this.#outTo > this.#outFrom) return this.#drainStaged();
    const frame = iov.length;
    if (frame > this.maxFrameBytes) return this.#error('EMSGSIZE');
    const out = this.#sendIov;
    out.clear();
    new DataView(this.#words.buffer).setUint32(0, frame, false);
    out.push(this.#wordsAddr, 4);
    for (let i = 0; i < iov.count; i++) {
      if (!out.push(iov.baseAt(i), iov.lengthAt(i))) return this.#error('E2BIG');
    }
    const n = sys.writevRaw(this.fd, out.bytes, out.count);
    if (n < 0) return this.#failed(-n);
    if (n === out.length) return NetStatus.Ok;
    this.#stageRest(out, n);
    return NetStatus.WouldBlock;
  }

  /**
   * Receives one whole frame into `iov` (which it may truncate to the frame's
   * length); a frame longer than `iov` is consumed and reported as EMSGSIZE.
   */
  receive(iov: IovecList): NetStatus {
    for (;;) {
      if (this.#inLength < 0) {
        const status = this.#readLength();
        if (status !== NetStatus.Ok) return status;
      }
      const length = this.#inLength;
      if (length === 0) {
        this.#resetIn();
        return this.#error('EPROTO');
      }
      if (this.#inGot === 0 && length <= iov.length) {
        // The fast path: straight into guest RAM, in one readv when the frame has arrived whole.
        // Not a byte past the frame: the next length word belongs to the next call.
        if (iov.length > length) iov.truncate(length);
        const n = sys.readvRaw(this.fd, iov.bytes, iov.count);
        if (n < 0) return this.#failed(-n);
        if (n === 0) return this.#closed('end of stream');
        if (n === length) return this.#frameDone(length);
        // A piece: keep it in the staging buffer, so the guest buffers are free again.
        copyFromIovecs(iov, this.#inStage, n);
        this.#inGot = n;
        continue;
      }
      const n = this.#readStaged(length - this.#inGot);
      if (n < 0) return this.#failed(-n);
      if (n === 0 && length > this.#inGot) return this.#closed('end of stream');
      this.#inGot += n;
      if (this.#inGot < length) return NetStatus.WouldBlock;
      if (length > iov.length) {
        this.#resetIn();
        return this.#error('EMSGSIZE');
      }
      copyToIovecs(this.#inStage, length, iov);
      return this.#frameDone(length);
    }
  }

  /** The waiting frame's length (reading its length word if it has come), or -1 while none has. */
  nextFrameBytes(): number {
    if (this.#inLength < 0 && this.#readLength() !== NetStatus.Ok) return -1;
    return this.#inLength;
  }

  #readLength(): NetStatus {
    const at = this.#wordsAddr + 4 + this.#inLengthGot;
    const r = this.#readIov;
    r.clear();
    r.push(at, 4 - this.#inLengthGot);
    const n = sys.readvRaw(this.fd, r.bytes, r.count);
    if (n < 0) return this.#failed(-n);
    if (n === 0) return this.#closed('end of stream');
    this.#inLengthGot += n;
    if (this.#inLengthGot < 4) return NetStatus.WouldBlock;
    const length = new DataView(this.#words.buffer).getUint32(4, false);
    if (length > MAX_SANE_FRAME) return this.#closed(`frame length ${length} is out of bounds: the stream lost its framing`);
    this.#inLength = length;
    this.#inGot = 0;
    return NetStatus.Ok;
  }

  #readStaged(want: number): number {
    const r = this.#readIov;
    r.clear();
    r.push(this.#inStageAddr + this.#inGot, want);
    return want === 0 ? 0 : sys.readvRaw(this.fd, r.bytes, r.count);
  }

  #frameDone(length: number): NetStatus {
    this.lastBytes = length;
    this.#resetIn();
    return NetStatus.Ok;
  }

  #resetIn(): void {
    this.#inLength = -1;
    this.#inLengthGot = 0;
    this.#inGot = 0;
  }

  /** Copies what writev left of `out` (from byte `sent`) into the staging buffer. */
  #stageRest(out: IovecList, sent: number): void {
    let skip = sent;
    let to = 0;
    for (let i = 0; i < out.count; i++) {
      const len = out.lengthAt(i);
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const piece = new Uint8Array(sys.viewOf(BigInt(out.baseAt(i) + skip), len - skip));
      this.#outStage.set(piece, to);
      to += piece.length;
      skip = 0;
    }
    this.#outFrom = 0;
    this.#outTo = to;
  }

  #drainStaged(): NetStatus {
    const r = this.#readIov;
    r.clear();
    r.push(this.#outStageAddr + this.#outFrom, this.#outTo - this.#outFrom);
    const n = sys.writevRaw(this.fd, r.bytes, r.count);
    if (n < 0) return this.#failed(-n);
    this.#outFrom += n;
    return this.#outFrom < this.#outTo ? NetStatus.WouldBlock : NetStatus.Ok;
  }

  #failed(errno: number): NetStatus {
    if (errno === sys.EAGAIN) return NetStatus.WouldBlock;
    if (errno === sys.EPIPE || errno === sys.ECONNRESET) return this.#closed(errnoName(errno));
    return this.#error(errnoName(errno));
  }

  #error(code: string): NetStatus {
    this.lastError = code;
    return NetStatus.Error;
  }

  #closed(why: string): NetStatus {
    if (!this.lastError) this.lastError = why;
    return NetStatus.Closed;
  }
}

function copyFromIovecs(iov: IovecList, to: Uint8Array, bytes: number): void {
  let done = 0;
  for (let i = 0; i < iov.count && done < bytes; i++) {
    const n = Math.min(iov.lengthAt(i), bytes - done);
    to.set(new Uint8Array(sys.viewOf(BigInt(iov.baseAt(i)), n)), done);
    done += n;
  }
}

function copyToIovecs(from: Uint8Array, bytes: number, iov: IovecList): void {
  let done = 0;
  for (let i = 0; i < iov.count && done < bytes; i++) {
    const n = Math.min(iov.lengthAt(i), bytes - done);
    new Uint8Array(sys.viewOf(BigInt(iov.baseAt(i)), n)).set(from.subarray(done, done + n));
    done += n;
  }
}
