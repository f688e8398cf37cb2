/**
 * The fid table of one 9P session (9P2000 intro(5): a fid is the client's
 * 32-bit name for a file on the server). Each fid holds SharedTree handles,
 * never a host path: a path handle (an O_PATH descriptor) for every fid,
 * plus a file handle once it is opened (Tlopen, Tlcreate). Xattr fids
 * (Txattrwalk, Txattrcreate) hold a bounded value buffer instead.
 *
 * Limits: at most `maxFids` fids per session, and at most `maxXattrBytes`
 * of xattr buffers across them, so a guest cannot make the server hold
 * unbounded host descriptors or memory.
 */
import type { SharedTree } from '../../fs.js';

/** The largest xattr value Linux accepts (XATTR_SIZE_MAX). */
export const XATTR_SIZE_MAX = 65536;

export interface XattrRead {
  kind: 'read';
  /** The value (or the NUL-separated name list) being read with Tread. */
  value: Uint8Array;
}

export interface XattrWrite {
  kind: 'write';
  name: string;
  flags: number;
  /** attr_size bytes, filled by Twrite, set on Tclunk. */
  value: Uint8Array;
  /** Bytes written so far (the value is set only when all attr_size bytes came). */
  written: number;
}

export class Fid {
  /** Path handle on the object; -1 once released. */
  path: number;
  /** File handle after Tlopen/Tlcreate, else -1. */
  file = -1;
  /** Set for xattr fids. */
  xattr: XattrRead | XattrWrite | null = null;
  /** The uid of the attach this fid descends from (owner of what it creates; -1: the host's default). */
  readonly uid: number;
  /** Open flags of the file handle (for the access checks of read and write). */
  openFlags = 0;
  /** A Treaddir on this fid is in flight (the tree's cursor belongs to one call at a time). */
  readdirBusy = false;
  /** I/O requests in flight on this fid's handles. */
  busy = 0;
  /** Unbound while busy: the last I/O request to end closes the handles. */
  releasePending = false;

  constructor(path: number, uid: number) {
    this.path = path;
    this.uid = uid;
  }
}

export class FidTable {
  readonly maxFids: number;
  readonly maxXattrBytes: number;
  readonly #fids = new Map<number, Fid>();
  readonly #tree: SharedTree;
  #xattrBytes = 0;

  constructor(tree: SharedTree, maxFids: number, maxXattrBytes: number) {
    this.#tree = tree;
    this.maxFids = maxFids;
    this.maxXattrBytes = maxXattrBytes;
  }

  get size(): number {
    return this.#fids.size;
  }

  /** Bytes held in xattr buffers. */
  get xattrBytes(): number {
    return this.#xattrBytes;
  }

  get(fid: number): Fid | undefined {
    return this.#fids.get(fid);
  }

  has(fid: number): boolean {
    return this.#fids.has(fid);
  }

  /** True when one more fid may be made. */
  get full(): boolean {
    return this.#fids.size >= this.maxFids;
  }

  /** Binds `fid` (which must be free, and the table not full) to `entry`. */
  add(fid: number, entry: Fid): void {
    if (this.#fids.has(fid)) throw new Error(`fid ${fid} in use`);
    this.#fids.set(fid, entry);
  }

  /** Reserves `n` bytes of xattr buffer; false when the session's budget is spent. */
  reserveXattr(n: number): boolean {
    if (this.#xattrBytes + n > this.maxXattrBytes) return false;
    this.#xattrBytes += n;
    return true;
  }

  /** Gives back what an xattr fid held. */
  releaseXattr(entry: Fid): void {
    if (entry.xattr) this.#xattrBytes -= entry.xattr.value.length;
    entry.xattr = null;
  }

  /** Unbinds `fid` and returns it (its handles still open: see release), or undefined. */
  remove(fid: number): Fid | undefined {
    const entry = this.#fids.get(fid);
    if (entry) this.#fids.delete(fid);
    return entry;
  }

  /**
   * Closes the handles of an unbound fid and drops its xattr buffer; while
   * I/O on it is in flight, only marks it, and `ioEnded` closes them.
   */
  release(entry: Fid): void {
    this.releaseXattr(entry);
    if (entry.busy > 0) {
      entry.releasePending = true;
      return;
    }
    for (const handle of [entry.file, entry.path]) {
      if (handle < 0) continue;
      try {
        this.#tree.close(handle);
      } catch {
        // Already closed (the tree was disposed): nothing left to release.
      }
    }
    entry.file = -1;
    entry.path = -1;
  }

  /** An I/O request on `entry` ended: closes its handles if it was released meanwhile. */
  ioEnded(entry: Fid): void {
    if (--entry.busy === 0 && entry.releasePending) {
      entry.releasePending = false;
      this.release(entry);
    }
  }

  /** Clunks every fid (Tversion, device reset). */
  clear(): void {
    for (const entry of this.#fids.values()) this.release(entry);
    this.#fids.clear();
  }
}
