/**
 * A 9P2000.L test client for the virtio-9p device: it plays the guest
 * driver with a MockDriver over host-mapped RAM, sends each T-message as a
 * descriptor chain (optionally split into many buffers), and resolves with
 * the reply the device wrote, in whatever order replies complete.
 */
import { HostTree } from '../backends/fs/tree.js';
import type { SharedTree } from '../devices/fs.js';
import { VirtioNineP, type VirtioNinePOptions } from '../devices/virtio/9p/device.js';
import { NinePWireError } from '../devices/virtio/9p/errors.js';
import { MAX_MSIZE, MessageType as M, NOFID, type Qid, type RMessage, type TMessage, VERSION_9P2000_L } from '../devices/virtio/9p/messages.js';
import { decodeRMessage, encodeTMessage } from '../devices/virtio/9p/wire.js';
import { MockDriver, type MockBuffer, type PlacedBuffer } from '../devices/virtio/queue/mock-driver.js';
import type { SplitQueue } from '../devices/virtio/queue/split.js';
import type { DeviceRuntime } from '../devices/virtio/runtime/device-runtime.js';

export interface SendOptions {
  /** Bytes of device-writable space (default msize). */
  replyBytes?: number;
  /** Split the request into this many readable buffers (default 1). */
  pieces?: number;
  /** Split the reply space into this many writable buffers (default 1). */
  replyPieces?: number;
}

/** A DeviceRuntime double: completions go straight to the queue; tracked work is counted. */
class TestRuntime implements DeviceRuntime {
  readonly wakeEventFd = -1;
  inFlight = 0;
  onComplete: () => void = () => {};
  addFd(): number { return 0; }
  setFdEvents(): void {}
  removeFd(): void {}
  addTimer(): number { return 0; }
  armTimer(): void {}
  removeTimer(): void {}
  kickQueue(): void {}
  wake(): void {}
  complete(queue: SplitQueue, head: number, len: number): void {
    queue.pushUsed(head, len);
    queueMicrotask(this.onComplete);
  }
  track<T>(operation: Promise<T>): Promise<T> {
    this.inFlight++;
    return operation.finally(() => this.inFlight--);
  }
}

/** A T-message without its tag (the client picks one unless given). */
export type Request = (TMessage extends infer T ? (T extends TMessage ? Omit<T, 'tag'> : never) : never) & { tag?: number };

/** An Rlerror as an exception, for `call`. */
export class RlerrorReply extends Error {
  constructor(readonly ecode: number, readonly request: TMessage) {
    super(`request type ${request.type} answered Rlerror ${ecode}`);
  }
}

function split(bytes: Uint8Array, pieces: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const size = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out.length > 0 ? out : [bytes];
}

export class NinePClient {
  readonly device: VirtioNineP;
  readonly driver: MockDriver;
  readonly queue: SplitQueue;
  readonly runtime = new TestRuntime();
  msize = MAX_MSIZE;
  #nextTag = 1;
  readonly #pending = new Map<number, { placed: PlacedBuffer[]; resolve: (reply: Uint8Array) => void }>();

  constructor(tree: SharedTree, options: Partial<VirtioNinePOptions> = {}) {
    this.device = new VirtioNineP({ mountTag: 'share', ...options, tree });
    this.device.attachRuntime(this.runtime);
    this.driver = new MockDriver({ size: this.device.queueMaxSizes[0]!, eventIdx: true, indirectDesc: true, hostMapped: true, dataBytes: 32 << 20 });
    this.queue = this.driver.createQueue();
    this.device.activate(this.device.features, [this.queue]);
    this.runtime.onComplete = () => this.#collect();
  }

  /** Requests sent and not answered. */
  get outstanding(): number {
    return this.#pending.size;
  }

  /** Sends raw request bytes; resolves with the reply bytes (the used length of the writable part). */
  send(bytes: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    const replyBytes = options.replyBytes ?? this.msize;
    const buffers: MockBuffer[] = split(bytes, options.pieces ?? 1).map((data) => ({ data, writable: false }));
    const replyPieces = Math.max(1, Math.min(options.replyPieces ?? 1, replyBytes));
    const pieceLen = Math.ceil(replyBytes / replyPieces);
    for (let left = replyBytes; left > 0; left -= pieceLen) buffers.push({ len: Math.min(pieceLen, left), writable: true });
    const { head, placed } = this.driver.addChain(buffers, { indirect: buffers.length > 4 });
    const reply = new Promise<Uint8Array>((resolve) => this.#pending.set(head, { placed, resolve }));
    this.device.queueNotified(0);
    this.#collect();
    return reply;
  }

  /** Sends `m` (a fresh tag unless it has one) and decodes the reply. */
  async rpc(m: TMessage, options: SendOptions = {}): Promise<RMessage> {
    const bytes = await this.send(encodeTMessage(m), options);
    const r = decodeRMessage(bytes);
    if (r instanceof NinePWireError) throw new Error(`undecodable reply (${bytes.length} bytes): ${r.message}`);
    return r;
  }

  /** A fresh tag (never NOTAG). */
  tag(): number {
    const t = this.#nextTag;
    this.#nextTag = (this.#nextTag % 0xfffe) + 1;
    return t;
  }

  /** Sends a request without a tag of its own; throws RlerrorReply for Rlerror, else returns the reply of type `expect`. */
  async call<T extends RMessage['type']>(m: Request, expect: T, options: SendOptions = {}): Promise<Extract<RMessage, { type: T }>> {
    const request = { ...m, tag: m.tag ?? this.tag() } as TMessage;
    const r = await this.rpc(request, options);
    if (r.type === M.Rlerror) throw new RlerrorReply(r.ecode, request);
    if (r.type !== expect) throw new Error(`expected type ${expect}, got ${r.type}`);
    if (r.tag !== request.tag) throw new Error(`reply tag ${r.tag} for request tag ${request.tag}`);
    return r as Extract<RMessage, { type: T }>;
  }

  /** The errno a request fails with, or 0 when it succeeds. */
  async errnoOf(m: Request, options: SendOptions = {}): Promise<number> {
    const r = await this.rpc({ ...m, tag: m.tag ?? this.tag() } as TMessage, options);
    return r.type === M.Rlerror ? r.ecode : 0;
  }

  /** Tversion then Tattach of fid `fid` as `uid`; returns the root qid. */
  async mount(fid = 0, uid = 0, msize = MAX_MSIZE): Promise<Qid> {
    const v = await this.call({ type: M.Tversion, tag: 0xffff, msize, version: VERSION_9P2000_L }, M.Rversion);
    this.msize = v.msize;
    const a = await this.call({ type: M.Tattach, fid, afid: NOFID, uname: '', aname: '', nUname: uid }, M.Rattach);
    return a.qid;
  }

  /** Walks `names` from `fid` to a new fid `newfid`; returns the qids. */
  async walk(fid: number, newfid: number, names: string[]): Promise<Qid[]> {
    return (await this.call({ type: M.Twalk, fid, newfid, names }, M.Rwalk)).qids;
  }

  #collect(): void {
    for (const { id, len } of this.driver.takeUsed()) {
      const pending = this.#pending.get(id);
      if (!pending) continue;
      this.#pending.delete(id);
      const out = new Uint8Array(len);
      let at = 0;
      for (const b of pending.placed) {
        if (!b.writable || at >= len) continue;
        const n = Math.min(b.len, len - at);
        out.set(this.driver.read(b.addr, n), at);
        at += n;
      }
      pending.resolve(out);
    }
  }

  close(): void {
    this.device.reset();
    this.driver.close();
  }
}

/** The host implementation of SharedTree over `hostPath` (for device-layer tests, which may not import backends/). */
export function openHostTree(hostPath: string, readOnly = false): HostTree {
  return HostTree.open({ hostPath, readOnly });
}
