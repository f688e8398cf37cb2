/**
 * A 9P2000.L server over one SharedTree (src/devices/fs.ts), independent of
 * the transport: the virtio device (device.ts) hands it each request's
 * bytes and an NinePIo that reaches the request's buffers in guest RAM.
 *
 * - **Sessions:** Tversion negotiates msize (at most the transport's limit,
 *   512000) and the protocol ("9P2000.L", else "unknown"), and clunks every
 *   fid. Nothing else is served before it.
 * - **Concurrency:** metadata requests run synchronously and reply at once;
 *   read, write, fsync and readdir run on the tree's I/O threads and reply
 *   when they finish, in any order (each reply carries its tag), so a slow
 *   read never holds up a getattr.
 * - **Tflush** (9P2000 flush(5)): the I/O cannot be cancelled, so Rflush
 *   goes out after the old request's reply, or at once when it is not in
 *   flight, which is the order the client needs.
 * - **Errors** are Rlerror with the host errno (FsError), or EPROTO and
 *   friends for malformed messages (one rate-limited log line each).
 * - **Safety:** a fid whose handles an in-flight I/O request uses is not
 *   closed under it: a Tclunk during a read unbinds the fid at once and
 *   closes its descriptors when the read ends, so a reused descriptor
 *   number can never receive another request's data.
 *
 * Tremove and Trename, which name a file by its fid alone, answer
 * EOPNOTSUPP (the fid is still clunked for Tremove, as remove(5) says):
 * fids hold no parent directory or name to resolve them safely, and Linux
 * uses Tunlinkat and Trenameat, falling back only on EOPNOTSUPP from those.
 */
import { constants } from 'node:os';
import { IovecList } from '../../../memory/iovec-list.js';
import { IOV_MAX } from '../../../memory/io-buffers.js';
import { ByteRangeLock, FileAttr, FsError, FsStats, LockType as TreeLock, SetAttr, type SharedTree, XATTR_CREATE, XATTR_REPLACE } from '../../fs.js';
import { type DeviceLogger, silentLogger } from '../log.js';
import { emptyRgetattr, fillRgetattr, fillSetAttr, qidOf, qidTypeOfDtype, rstatfsOf } from './attrs.js';
import { writeDirentBytes } from './dirent.js';
import { NinePWireError, type NinePWireErrorCode } from './errors.js';
import { Fid, FidTable, XATTR_SIZE_MAX } from './fids.js';
import {
  LockStatus, LockType, MAX_MSIZE, MessageType as M, messageName, NOFID, type Qid, RREAD_HEADER_SIZE, type RMessage, type TMessage,
  VERSION_9P2000_L, VERSION_UNKNOWN,
} from './messages.js';
import { decodeTMessage, encodeRMessage, writeDataReplyHeader, writeRlerror } from './wire.js';

const E = constants.errno;

/** What the server needs of the transport for one request. */
export interface NinePIo {
  /** Bytes the reply may take (the chain's device-writable part). */
  readonly replyLimit: number;
  /** Twrite: appends the host ranges of the data (the bytes after the 23-byte header) to `iov`; false if they are not host memory. */
  appendPayload(iov: IovecList): boolean;
  /** Twrite: a copy of the data (for xattr values, at most 64 KiB). */
  readPayload(): Uint8Array;
  /** Appends the host ranges of reply bytes [at, at + count) to `iov` (Rread's data); false if they are not host memory. */
  appendReplyRange(iov: IovecList, at: number, count: number): boolean;
  /**
   * Completes the request: `reply[0, length)` goes to the start of the
   * reply buffers, after which `extra` bytes were already placed there
   * (Rread's data); the used length is `length + extra`. Called once.
   */
  finish(reply: Uint8Array, length: number, extra: number): void;
}

export interface NinePServerOptions {
  tree: SharedTree;
  /** Most fids per session (each holds host descriptors); default 4096. */
  maxFids?: number;
  /** Most bytes of xattr buffers per session; default 1 MiB. */
  maxXattrBytes?: number;
  /** The transport's largest message (default and most 512000). */
  maxMsize?: number;
  logger?: DeviceLogger;
  /** Registers an asynchronous request, which may write guest RAM until it settles (DeviceRuntime.track). */
  track?: (operation: Promise<void>) => Promise<void>;
}

export interface NinePCounters {
  requests: number;
  /** Requests answered with Rlerror. */
  errors: number;
  /** Requests that did not decode. */
  malformed: number;
  readBytes: number;
  writtenBytes: number;
}

/** Open flags passed to the tree (Linux/x86 values, which 9P2000.L's P9_DOTL_* match). */
const O_ACCMODE = 0o3;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const O_DSYNC = 0o10000;
const O_DIRECTORY = 0o200000;
const O_SYNC = 0o4010000;
const O_EXCL = 0o200;
const OPEN_FLAGS = O_ACCMODE | O_TRUNC | O_APPEND | O_DSYNC | O_DIRECTORY | O_SYNC;
const AT_REMOVEDIR = 0x200;
/** The smallest msize a session may have. */
export const MIN_MSIZE = 4096;
/** Iovec lists kept for reuse; more in flight are made and dropped. */
const IOV_POOL = 32;

export class NinePServer {
  readonly counters: NinePCounters = { requests: 0, errors: 0, malformed: 0, readBytes: 0, writtenBytes: 0 };
  readonly maxMsize: number;
  readonly #tree: SharedTree;
  readonly #fids: FidTable;
  readonly #logger: DeviceLogger;
  readonly #track: (operation: Promise<void>) => Promise<void>;
  /** Negotiated msize; 0 before Tversion. */
  #msize = 0;
  /** Requests in flight by tag, with the Rflush replies waiting for each. */
  readonly #inFlight = new Map<number, (() => void)[] | null>();
  /** Reply scratch: replies are encoded synchronously, so one serves every request. */
  readonly #out: Uint8Array;
  #outView: Uint8Array;
  readonly #attr = new FileAttr();
  readonly #getattr = emptyRgetattr();
  readonly #setattr = new SetAttr();
  readonly #stats = new FsStats();
  readonly #lock = new ByteRangeLock();
  readonly #direntQid: Qid = { type: 0, version: 0, pathLo: 0, pathHi: 0 };
  readonly #iovs: IovecList[] = [];

  constructor(options: NinePServerOptions) {
    this.#tree = options.tree;
    this.maxMsize = Math.min(options.maxMsize ?? MAX_MSIZE, MAX_MSIZE);
    this.#fids = new FidTable(options.tree, options.maxFids ?? 4096, options.maxXattrBytes ?? 1 << 20);
    this.#logger = options.logger ?? silentLogger;
    this.#track = options.track ?? ((operation) => operation);
    this.#out = new Uint8Array(this.maxMsize);
    this.#outView = this.#out;
  }

  /** Fids bound now. */
  get fidCount(): number {
    return this.#fids.size;
  }

  /** Requests not answered yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The negotiated msize (0 before Tversion). */
  get msize(): number {
    return this.#msize;
  }

  /**
   * Serves one request: `bytes` holds the message (for Twrite, at least its
   * 23-byte header; the data is reached through `io`), `totalLength` is its
   * length as the transport carried it. The reply goes to `io.finish`, now
   * or later.
   */
  submit(bytes: Uint8Array, totalLength: number, io: NinePIo): void {
    this.counters.requests++;
    // Tversion decodes whatever msize is in force (it replaces it); other requests must keep to it.
    const m = decodeTMessage(bytes, { totalLength, maxSize: this.maxMsize });
    if (!(m instanceof NinePWireError) && m.type !== M.Tversion && this.#msize > 0 && totalLength > this.#msize) {
      this.counters.malformed++;
      this.#replyError(io, m.tag, E.EMSGSIZE);
      return;
    }
    if (m instanceof NinePWireError) {
      this.counters.malformed++;
      this.#logger.warn(`virtio-9p: malformed ${messageName(m.messageType)} request: ${m.message}`);
      this.#replyError(io, m.tag, errnoOfWire(m.code));
      return;
    }
    if (this.#inFlight.has(m.tag)) {
      this.#logger.warn(`virtio-9p: tag ${m.tag} reused while in flight`);
      this.#replyError(io, m.tag, E.EBUSY);
      return;
    }
    this.#inFlight.set(m.tag, null);
    // The tag is free again the moment the reply is handed over, before the guest can reuse it.
    const request = new InFlightIo(io, () => this.#settle(m.tag));
    let result: void | Promise<void>;
    try {
      result = this.#dispatch(m, request);
    } catch (err) {
      this.#replyError(request, m.tag, this.#errnoOf(err, m));
      return;
    }
    if (result === undefined) {
      if (!request.done) this.#replyError(request, m.tag, E.EIO);
      return;
    }
    void this.#track(result.then(
      () => {
        if (!request.done) this.#replyError(request, m.tag, E.EIO);
      },
      (err: unknown) => {
        if (!request.done) this.#replyError(request, m.tag, this.#errnoOf(err, m));
      },
    ));
  }

  /** Ends the session (device reset): clunks every fid. In-flight I/O closes its fids when it ends. */
  reset(): void {
    this.#fids.clear();
    this.#msize = 0;
  }

  // --- Replies ---------------------------------------------------------------------

  #limit(io: NinePIo): Uint8Array {
    const limit = Math.min(io.replyLimit, this.#msize || this.maxMsize);
    if (this.#outView.length !== limit) this.#outView = this.#out.subarray(0, Math.max(0, limit));
    return this.#outView;
  }

  #reply(io: NinePIo, m: RMessage): void {
    const out = this.#limit(io);
    const n = encodeRMessage(m, out);
    if (n < 0) {
      this.#replyError(io, m.tag, E.EMSGSIZE);
      return;
    }
    io.finish(out, n, 0);
  }

  #replyError(io: NinePIo, tag: number, errno: number): void {
    this.counters.errors++;
    const out = this.#limit(io);
    if (out.length < 11) {
      io.finish(out, 0, 0);
      return;
    }
    io.finish(out, writeRlerror(out, tag, errno), 0);
  }

  /** The request is answered: send the Rflush replies that waited for it. */
  #settle(tag: number): void {
    const waiters = this.#inFlight.get(tag);
    this.#inFlight.delete(tag);
    if (waiters) for (const send of waiters) send();
  }

  #errnoOf(err: unknown, m: TMessage): number {
    if (err instanceof FsError) return err.errno;
    this.#logger.warn(`virtio-9p: ${messageName(m.type)} failed: ${err instanceof Error ? err.message : String(err)}`);
    return E.EIO;
  }

  // --- Dispatch ----------------------------------------------------------------------

  #dispatch(m: TMessage, io: NinePIo): void | Promise<void> {
    if (m.type === M.Tversion) return this.#version(m.tag, m.msize, m.version, io);
    if (this.#msize === 0) throw fsError(messageName(m.type), E.EPROTO);
    const tree = this.#tree;
    switch (m.type) {
      case M.Tattach: {
        if (this.#fids.has(m.fid)) throw fsError('attach', E.EBADF);
        if (m.afid !== NOFID) throw fsError('attach', E.EINVAL);
        this.#needRoom();
        const root = tree.root();
        const qid = this.#qidOf(root, true);
        this.#fids.add(m.fid, new Fid(root, m.nUname === NOFID ? -1 : m.nUname));
        return this.#reply(io, { type: M.Rattach, tag: m.tag, qid });
      }
      case M.Tflush: {
        const waiters = this.#inFlight.get(m.oldtag);
        if (waiters === undefined || m.oldtag === m.tag) return this.#reply(io, { type: M.Rflush, tag: m.tag });
        // Answer after the old request's reply; this request stays in flight until then.
        return new Promise<void>((resolve) => {
          const send = () => {
            this.#reply(io, { type: M.Rflush, tag: m.tag });
            resolve();
          };
          if (waiters === null) this.#inFlight.set(m.oldtag, [send]);
          else waiters.push(send);
        });
      }
      case M.Twalk: return this.#walk(m.tag, m.fid, m.newfid, m.names, io);
      case M.Tclunk: return this.#clunk(m.tag, m.fid, io);
      case M.Tremove: {
        const entry = this.#fids.remove(m.fid);
        if (!entry) throw fsError('remove', E.EBADF);
        this.#release(entry);
        throw fsError('remove', E.EOPNOTSUPP);
      }
      case M.Tlopen: {
        const fid = this.#pathFid(m.fid, 'lopen');
        if (fid.file >= 0) throw fsError('lopen', E.EINVAL);
        const qid = this.#qidOf(fid.path, true);
        fid.file = tree.open(fid.path, m.flags & OPEN_FLAGS);
        fid.openFlags = m.flags;
        return this.#reply(io, { type: M.Rlopen, tag: m.tag, qid, iounit: 0 });
      }
      case M.Tlcreate: {
        const fid = this.#pathFid(m.fid, 'lcreate');
        if (fid.file >= 0) throw fsError('lcreate', E.EINVAL);
        const file = tree.create(fid.path, m.name, m.flags & (OPEN_FLAGS | O_EXCL), m.mode, fid.uid, ownerId(m.gid));
        let path: number;
        try {
          path = tree.clone(file);
        } catch (err) {
          tree.close(file);
          throw err;
        }
        tree.close(fid.path);
        fid.path = path;
        fid.file = file;
        fid.openFlags = m.flags;
        return this.#reply(io, { type: M.Rlcreate, tag: m.tag, qid: this.#qidOf(path, true), iounit: 0 });
      }
      case M.Tread: return this.#read(m.tag, m.fid, m.offset, m.count, io);
      case M.Twrite: return this.#write(m.tag, m.fid, m.offset, m.count, io);
      case M.Tfsync: {
        const fid = this.#openFid(m.fid, 'fsync');
        return this.#io(fid, tree.fsync(fid.file, m.datasync !== 0)).then(() => this.#reply(io, { type: M.Rfsync, tag: m.tag }));
      }
      case M.Tgetattr: {
        const fid = this.#pathFid(m.fid, 'getattr');
        tree.getattr(fid.path, this.#attr);
        return this.#reply(io, fillRgetattr(this.#getattr, m.tag, this.#attr));
      }
      case M.Tsetattr: {
        const fid = this.#pathFid(m.fid, 'setattr');
        if (!fillSetAttr(this.#setattr, m)) throw fsError('setattr', E.EINVAL);
        tree.setattr(fid.file >= 0 ? fid.file : fid.path, this.#setattr);
        return this.#reply(io, { type: M.Rsetattr, tag: m.tag });
      }
      case M.Tstatfs: {
        tree.statfs(this.#pathFid(m.fid, 'statfs').path, this.#stats);
        return this.#reply(io, rstatfsOf(m.tag, this.#stats));
      }
      case M.Treaddir: return this.#readdir(m.tag, m.fid, m.offsetHi, m.offsetLo, m.count, io);
      case M.Tmkdir: {
        const dir = this.#pathFid(m.dfid, 'mkdir');
        const qid = this.#qidAndClose(tree.mkdir(dir.path, m.name, m.mode, dir.uid, ownerId(m.gid)));
        return this.#reply(io, { type: M.Rmkdir, tag: m.tag, qid });
      }
      case M.Tmknod: {
        const dir = this.#pathFid(m.dfid, 'mknod');
        const qid = this.#qidAndClose(tree.mknod(dir.path, m.name, m.mode, m.major, m.minor, dir.uid, ownerId(m.gid)));
        return this.#reply(io, { type: M.Rmknod, tag: m.tag, qid });
      }
      case M.Tunlinkat: {
        tree.unlink(this.#pathFid(m.dfid, 'unlinkat').path, m.name, (m.flags & AT_REMOVEDIR) !== 0);
        return this.#reply(io, { type: M.Runlinkat, tag: m.tag });
      }
      case M.Trenameat: {
        const from = this.#pathFid(m.oldDfid, 'renameat');
        const to = this.#pathFid(m.newDfid, 'renameat');
        tree.rename(from.path, m.oldName, to.path, m.newName);
        return this.#reply(io, { type: M.Rrenameat, tag: m.tag });
      }
      case M.Trename: {
        this.#pathFid(m.fid, 'rename');
        this.#pathFid(m.dfid, 'rename');
        throw fsError('rename', E.EOPNOTSUPP);
      }
      case M.Tsymlink: {
        const dir = this.#pathFid(m.dfid, 'symlink');
        const qid = this.#qidAndClose(tree.symlink(dir.path, m.name, m.target, dir.uid, ownerId(m.gid)));
        return this.#reply(io, { type: M.Rsymlink, tag: m.tag, qid });
      }
      case M.Treadlink:
        return this.#reply(io, { type: M.Rreadlink, tag: m.tag, target: tree.readlink(this.#pathFid(m.fid, 'readlink').path) });
      case M.Tlink: {
        const dir = this.#pathFid(m.dfid, 'link');
        tree.link(this.#pathFid(m.fid, 'link').path, dir.path, m.name);
        return this.#reply(io, { type: M.Rlink, tag: m.tag });
      }
      case M.Tlock: {
        const fid = this.#openFid(m.fid, 'lock');
        this.#fillLock(m.lockType, m.start, m.length, 'lock');
        const status = tree.lock(fid.file, this.#lock) ? LockStatus.SUCCESS : LockStatus.BLOCKED;
        return this.#reply(io, { type: M.Rlock, tag: m.tag, status });
      }
      case M.Tgetlock: {
        const fid = this.#openFid(m.fid, 'getlock');
        this.#fillLock(m.lockType, m.start, m.length, 'getlock');
        tree.getlock(fid.file, this.#lock);
        const l = this.#lock;
        return this.#reply(io, { type: M.Rgetlock, tag: m.tag, lockType: l.type, start: l.start, length: l.length, procId: m.procId, clientId: m.clientId });
      }
      case M.Txattrwalk: return this.#xattrWalk(m.tag, m.fid, m.newfid, m.name, io);
      case M.Txattrcreate: {
        const fid = this.#pathFid(m.fid, 'xattrcreate');
        if (fid.file >= 0) throw fsError('xattrcreate', E.EINVAL);
        if (this.#tree.readOnly) throw fsError('xattrcreate', E.EROFS);
        if (!Number.isSafeInteger(m.attrSize) || m.attrSize > XATTR_SIZE_MAX) throw fsError('xattrcreate', E.E2BIG);
        if ((m.flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) throw fsError('xattrcreate', E.EINVAL);
        if (!this.#fids.reserveXattr(m.attrSize)) throw fsError('xattrcreate', E.ENOSPC);
        fid.xattr = { kind: 'write', name: m.name, flags: m.flags, value: new Uint8Array(m.attrSize), written: 0 };
        return this.#reply(io, { type: M.Rxattrcreate, tag: m.tag });
      }
    }
  }

  #version(tag: number, msize: number, version: string, io: NinePIo): void {
    this.#fids.clear();
    const negotiated = Math.min(msize, this.maxMsize);
    // Below MIN_MSIZE not even a small reply fits: no session (Linux itself asks for at least 4096).
    const speaks = (version === VERSION_9P2000_L || version.startsWith(`${VERSION_9P2000_L}.`)) && negotiated >= MIN_MSIZE;
    this.#msize = speaks ? negotiated : 0;
    // Reply within the client's msize even before it is in force.
    const out = this.#out.subarray(0, Math.min(this.maxMsize, io.replyLimit));
    const n = encodeRMessage({ type: M.Rversion, tag, msize: negotiated, version: speaks ? VERSION_9P2000_L : VERSION_UNKNOWN }, out);
    if (n < 0) throw fsError('version', E.EMSGSIZE);
    io.finish(out, n, 0);
  }

  // --- Fids ----------------------------------------------------------------------------

  /** The fid, which must name a file (not an xattr). */
  #pathFid(fid: number, op: string): Fid {
    const entry = this.#fids.get(fid);
    if (!entry || entry.path < 0 || entry.xattr) throw fsError(op, E.EBADF);
    return entry;
  }

  /** The fid, which must be opened. */
  #openFid(fid: number, op: string): Fid {
    const entry = this.#pathFid(fid, op);
    if (entry.file < 0) throw fsError(op, E.EBADF);
    return entry;
  }

  #needRoom(): void {
    if (this.#fids.full) throw fsError('fid', E.EMFILE);
  }

  /** Closes an unbound fid's handles (or leaves that to its last in-flight request). */
  #release(entry: Fid): void {
    this.#fids.release(entry);
  }

  /** Runs I/O that uses `fid`'s handles, keeping them open until it settles. */
  #io<T>(fid: Fid, operation: Promise<T>): Promise<T> {
    fid.busy++;
    return operation.finally(() => this.#fids.ioEnded(fid));
  }

  #qidOf(handle: number, fresh: boolean): Qid {
    this.#tree.getattr(handle, this.#attr);
    return qidOf(this.#attr, fresh ? { type: 0, version: 0, pathLo: 0, pathHi: 0 } : this.#direntQid);
  }

  /** The qid of a new object's handle, which is then closed. */
  #qidAndClose(handle: number): Qid {
    try {
      return this.#qidOf(handle, true);
    } finally {
      this.#tree.close(handle);
    }
  }

  // --- Requests with more to them ---------------------------------------------------------

  #walk(tag: number, fidNumber: number, newfid: number, names: string[], io: NinePIo): void {
    const tree = this.#tree;
    const fid = this.#pathFid(fidNumber, 'walk');
    if (newfid !== fidNumber) {
      if (this.#fids.has(newfid)) throw fsError('walk', E.EBADF);
      this.#needRoom();
    } else if (fid.file >= 0 && names.length > 0) {
      throw fsError('walk', E.EBADF);
    }
    const qids: Qid[] = [];
    let current = fid.path;
    let owned = false;
    for (let i = 0; i < names.length; i++) {
      let next: number;
      try {
        next = tree.walk(current, names[i]!);
        try {
          qids.push(this.#qidOf(next, true));
        } catch (err) {
          tree.close(next);
          throw err;
        }
      } catch (err) {
        if (owned) tree.close(current);
        if (i === 0) throw err;
        // A partial walk (9P2000 walk(5)): the qids so far, and newfid is not bound.
        return this.#reply(io, { type: M.Rwalk, tag, qids });
      }
      if (owned) tree.close(current);
      current = next;
      owned = true;
    }
    if (newfid === fidNumber) {
      if (owned) {
        tree.close(fid.path);
        fid.path = current;
      }
    } else {
      this.#fids.add(newfid, new Fid(owned ? current : tree.clone(fid.path), fid.uid));
    }
    return this.#reply(io, { type: M.Rwalk, tag, qids });
  }

  #clunk(tag: number, fidNumber: number, io: NinePIo): void {
    const entry = this.#fids.remove(fidNumber);
    if (!entry) throw fsError('clunk', E.EBADF);
    const x = entry.xattr;
    try {
      // An xattr fid from Txattrcreate sets the value now (size 0: removes it), when every byte came.
      if (x?.kind === 'write') {
        if (x.written !== x.value.length) throw fsError('xattrcreate', E.EINVAL);
        if (x.value.length === 0) this.#tree.xattrRemove(entry.path, x.name);
        else this.#tree.xattrSet(entry.path, x.name, x.value, x.flags);
      }
    } finally {
      this.#release(entry);
    }
    return this.#reply(io, { type: M.Rclunk, tag });
  }

  #read(tag: number, fidNumber: number, offset: number, count: number, io: NinePIo): void | Promise<void> {
    const entry = this.#fids.get(fidNumber);
    if (!entry) throw fsError('read', E.EBADF);
    const out = this.#limit(io);
    const room = Math.max(0, Math.min(count, out.length - RREAD_HEADER_SIZE));
    if (entry.xattr) {
      if (entry.xattr.kind !== 'read') throw fsError('read', E.EBADF);
      const value = entry.xattr.value;
      const start = Number.isSafeInteger(offset) ? Math.min(offset, value.length) : value.length;
      const data = value.subarray(start, start + room);
      return this.#reply(io, { type: M.Rread, tag, count: data.length, data });
    }
    const fid = this.#openFid(fidNumber, 'read');
    if ((fid.openFlags & O_ACCMODE) === 1) throw fsError('read', E.EBADF);
    if (!Number.isSafeInteger(offset)) throw fsError('read', E.EINVAL);
    const iov = this.#takeIov();
    if (room > 0 && !io.appendReplyRange(iov, RREAD_HEADER_SIZE, room)) {
      this.#giveIov(iov);
      throw fsError('read', E.EFAULT);
    }
    return this.#io(fid, this.#tree.read(fid.file, offset, iov)).then(
      (n) => {
        this.#giveIov(iov);
        this.counters.readBytes += n;
        const reply = this.#limit(io);
        io.finish(reply, writeDataReplyHeader(reply, M.Rread, tag, n), n);
      },
      (err: unknown) => {
        this.#giveIov(iov);
        throw err;
      },
    );
  }

  #write(tag: number, fidNumber: number, offset: number, count: number, io: NinePIo): void | Promise<void> {
    const entry = this.#fids.get(fidNumber);
    if (!entry) throw fsError('write', E.EBADF);
    if (entry.xattr) {
      const x = entry.xattr;
      if (x.kind !== 'write') throw fsError('write', E.EBADF);
      if (!Number.isSafeInteger(offset) || offset + count > x.value.length) throw fsError('write', E.ENOSPC);
      x.value.set(io.readPayload().subarray(0, count), offset);
      x.written = Math.max(x.written, offset + count);
      return this.#reply(io, { type: M.Rwrite, tag, count });
    }
    const fid = this.#openFid(fidNumber, 'write');
    if ((fid.openFlags & O_ACCMODE) === 0) throw fsError('write', E.EBADF);
    if (!Number.isSafeInteger(offset)) throw fsError('write', E.EFBIG);
    const iov = this.#takeIov();
    if (count > 0 && !io.appendPayload(iov)) {
      this.#giveIov(iov);
      throw fsError('write', E.EFAULT);
    }
    return this.#io(fid, this.#tree.write(fid.file, offset, iov)).then(
      (n) => {
        this.#giveIov(iov);
        this.counters.writtenBytes += n;
        this.#reply(io, { type: M.Rwrite, tag, count: n });
      },
      (err: unknown) => {
        this.#giveIov(iov);
        throw err;
      },
    );
  }

  #readdir(tag: number, fidNumber: number, cookieHi: number, cookieLo: number, count: number, io: NinePIo): Promise<void> {
    const fid = this.#openFid(fidNumber, 'readdir');
    if (fid.readdirBusy) throw fsError('readdir', E.EAGAIN);
    const room = Math.max(0, Math.min(count, this.#limit(io).length - RREAD_HEADER_SIZE));
    fid.readdirBusy = true;
    return this.#io(fid, this.#tree.readdir(fid.file, cookieHi, cookieLo, room)).then(
      (entries) => {
        fid.readdirBusy = false;
        const out = this.#limit(io);
        const limit = RREAD_HEADER_SIZE + room;
        const qid = this.#direntQid;
        let p = RREAD_HEADER_SIZE;
        while (entries.next()) {
          qid.type = qidTypeOfDtype(entries.type);
          qid.pathLo = entries.qidPathLo;
          qid.pathHi = entries.qidPathHi;
          const next = writeDirentBytes(out, p, limit, qid, entries.cookieLo, entries.cookieHi, entries.type, entries.nameBytes, entries.nameOffset, entries.nameLength);
          if (next < 0) break;
          p = next;
        }
        writeDataReplyHeader(out, M.Rreaddir, tag, p - RREAD_HEADER_SIZE);
        io.finish(out, p, 0);
      },
      (err: unknown) => {
        fid.readdirBusy = false;
        throw err;
      },
    );
  }

  #xattrWalk(tag: number, fidNumber: number, newfid: number, name: string, io: NinePIo): void {
    const fid = this.#pathFid(fidNumber, 'xattrwalk');
    if (newfid === fidNumber || this.#fids.has(newfid)) throw fsError('xattrwalk', E.EBADF);
    this.#needRoom();
    const value = name === '' ? this.#tree.xattrList(fid.path) : this.#tree.xattrGet(fid.path, name);
    if (value.length > XATTR_SIZE_MAX) throw fsError('xattrwalk', E.E2BIG);
    if (!this.#fids.reserveXattr(value.length)) throw fsError('xattrwalk', E.ENOSPC);
    const entry = new Fid(-1, fid.uid);
    entry.xattr = { kind: 'read', value };
    try {
      entry.path = this.#tree.clone(fid.path);
    } catch (err) {
      this.#fids.releaseXattr(entry);
      throw err;
    }
    this.#fids.add(newfid, entry);
    return this.#reply(io, { type: M.Rxattrwalk, tag, size: value.length });
  }

  #fillLock(type: number, start: number, length: number, op: string): void {
    if (type !== LockType.RDLCK && type !== LockType.WRLCK && type !== LockType.UNLCK) throw fsError(op, E.EINVAL);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length)) throw fsError(op, E.EINVAL);
    this.#lock.type = type === LockType.RDLCK ? TreeLock.READ : type === LockType.WRLCK ? TreeLock.WRITE : TreeLock.UNLOCK;
    this.#lock.start = start;
    this.#lock.length = length;
  }

  #takeIov(): IovecList {
    const iov = this.#iovs.pop() ?? new IovecList(IOV_MAX);
    iov.clear();
    return iov;
  }

  #giveIov(iov: IovecList): void {
    if (this.#iovs.length < IOV_POOL) this.#iovs.push(iov);
  }
}

/** A request's NinePIo while its tag is in flight: the first finish frees the tag, later ones are ignored. */
class InFlightIo implements NinePIo {
  done = false;
  constructor(readonly io: NinePIo, readonly onFinish: () => void) {}
  get replyLimit(): number {
    return this.io.replyLimit;
  }
  appendPayload(iov: IovecList): boolean {
    return this.io.appendPayload(iov);
  }
  readPayload(): Uint8Array {
    return this.io.readPayload();
  }
  appendReplyRange(iov: IovecList, at: number, count: number): boolean {
    return this.io.appendReplyRange(iov, at, count);
  }
  finish(reply: Uint8Array, length: number, extra: number): void {
    if (this.done) return;
    this.done = true;
    this.io.finish(reply, length, extra);
    this.onFinish();
  }
}

function fsError(op: string, errno: number): FsError {
  return new FsError(op, errno, errnoName(errno));
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(E).map(([name, n]) => [n, name]));

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** A uid or gid from the wire: ~0 means "none" (the host's default). */
function ownerId(id: number): number {
  return id === NOFID ? -1 : id;
}

/** The errno a malformed message is answered with. */
export function errnoOfWire(code: NinePWireErrorCode): number {
  switch (code) {
    case 'ERR_9P_BAD_STRING': return E.EILSEQ;
    case 'ERR_9P_BAD_NAME': return E.EINVAL;
    case 'ERR_9P_UNKNOWN_TYPE': return E.EOPNOTSUPP;
    case 'ERR_9P_TOO_MANY_NAMES': return E.E2BIG;
    default: return E.EPROTO;
  }
}
