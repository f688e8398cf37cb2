/**
 * The 9P2000.L messages Linux's v9fs sends with `version=9p2000.L`, and
 * their replies. Layouts follow the 9P2000.L protocol description (diod's
 * protocol.md, Linux include/net/9p/9p.h): every message is
 *
 *   size[4] type[1] tag[2] fields...
 *
 * little-endian, where `size` counts the whole message including itself;
 * a string is len[2] followed by len bytes of UTF-8 (no NUL terminator);
 * a qid is type[1] version[4] path[8].
 *
 * 64-bit fields: quantities (offsets, sizes, times, lock ranges) are plain
 * Numbers and must be safe integers (below 2^53; a decoded value at or above
 * it decodes to a Number above Number.MAX_SAFE_INTEGER, which the server
 * refuses, see layout.ts). Opaque 64-bit values (qid.path, masks, fsid,
 * directory cookies) are two 32-bit halves, `...Lo`/`...Hi`, so
 * no BigInt is needed anywhere.
 */

/** Message type numbers (9P2000.L; Linux enum p9_msg_t). */
export const MessageType = {
  Rlerror: 7,
  Tstatfs: 8, Rstatfs: 9,
  Tlopen: 12, Rlopen: 13,
  Tlcreate: 14, Rlcreate: 15,
  Tsymlink: 16, Rsymlink: 17,
  Tmknod: 18, Rmknod: 19,
  Trename: 20, Rrename: 21,
  Treadlink: 22, Rreadlink: 23,
  Tgetattr: 24, Rgetattr: 25,
  Tsetattr: 26, Rsetattr: 27,
  Txattrwalk: 30, Rxattrwalk: 31,
  Txattrcreate: 32, Rxattrcreate: 33,
  Treaddir: 40, Rreaddir: 41,
  Tfsync: 50, Rfsync: 51,
  Tlock: 52, Rlock: 53,
  Tgetlock: 54, Rgetlock: 55,
  Tlink: 70, Rlink: 71,
  Tmkdir: 72, Rmkdir: 73,
  Trenameat: 74, Rrenameat: 75,
  Tunlinkat: 76, Runlinkat: 77,
  Tversion: 100, Rversion: 101,
  Tattach: 104, Rattach: 105,
  Tflush: 108, Rflush: 109,
  Twalk: 110, Rwalk: 111,
  Tread: 116, Rread: 117,
  Twrite: 118, Rwrite: 119,
  Tclunk: 120, Rclunk: 121,
  Tremove: 122, Rremove: 123,
} as const;

type M = typeof MessageType;

/** size[4] type[1] tag[2]: the header every message starts with. */
export const HEADER_SIZE = 7;
/** The tag of Tversion (and of replies to messages whose tag is unknown). */
export const NOTAG = 0xffff;
/** The fid meaning "none" (Tattach afid without authentication). */
export const NOFID = 0xffff_ffff;
/** Most names in one Twalk, and qids in one Rwalk (Linux P9_MAXWELEM). */
export const MAX_WALK_NAMES = 16;
/** The protocol version string this server speaks. */
export const VERSION_9P2000_L = '9P2000.L';
/** Rversion's answer to a version the server does not speak. */
export const VERSION_UNKNOWN = 'unknown';
/** The largest msize this server accepts (Linux's virtio transport allows up to 512000). */
export const MAX_MSIZE = 512000;
/** Bytes before Twrite's data: header, fid[4] offset[8] count[4]. */
export const TWRITE_HEADER_SIZE = HEADER_SIZE + 16;
/** Bytes before Rread's (and Rreaddir's) data: header, count[4]. */
export const RREAD_HEADER_SIZE = HEADER_SIZE + 4;
/** Bytes of an encoded qid. */
export const QID_SIZE = 13;

/** Qid types (qid.type bits, 9P2000 intro(5)). */
export const QidType = { DIR: 0x80, APPEND: 0x40, EXCL: 0x20, MOUNT: 0x10, AUTH: 0x08, TMP: 0x04, SYMLINK: 0x02, LINK: 0x01, FILE: 0 } as const;

/** The server's identity for a file: type[1] version[4] path[8] (path as two 32-bit halves). */
export interface Qid {
  type: number;
  version: number;
  pathLo: number;
  pathHi: number;
}

/** Tgetattr request_mask / Rgetattr valid bits (Linux P9_GETATTR_*). */
export const GetattrMask = {
  MODE: 0x1, NLINK: 0x2, UID: 0x4, GID: 0x8, RDEV: 0x10, ATIME: 0x20, MTIME: 0x40, CTIME: 0x80,
  INO: 0x100, SIZE: 0x200, BLOCKS: 0x400, BTIME: 0x800, GEN: 0x1000, DATA_VERSION: 0x2000,
  BASIC: 0x7ff, ALL: 0x3fff,
} as const;

/** Tsetattr valid bits (Linux P9_ATTR_*). */
export const SetattrMask = {
  MODE: 0x1, UID: 0x2, GID: 0x4, SIZE: 0x8, ATIME: 0x10, MTIME: 0x20, CTIME: 0x40, ATIME_SET: 0x80, MTIME_SET: 0x100,
} as const;

/** Tlock type and Rlock status values (9P2000.L Tlock). */
export const LockType = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const;
export const LockStatus = { SUCCESS: 0, BLOCKED: 1, ERROR: 2, GRACE: 3 } as const;
/** Tlock flags. */
export const LockFlags = { BLOCK: 1, RECLAIM: 2 } as const;

interface Message<T extends number> {
  type: T;
  tag: number;
}

// --- Session ---------------------------------------------------------------------

/** Tversion tag[2] msize[4] version[s]: negotiates msize and protocol; resets the session. */
export interface Tversion extends Message<M['Tversion']> { msize: number; version: string }
/** Rversion tag[2] msize[4] version[s]. */
export interface Rversion extends Message<M['Rversion']> { msize: number; version: string }
/** Tattach tag[2] fid[4] afid[4] uname[s] aname[s] n_uname[4]: fid becomes the root of tree `aname`. */
export interface Tattach extends Message<M['Tattach']> { fid: number; afid: number; uname: string; aname: string; nUname: number }
/** Rattach tag[2] qid[13]. */
export interface Rattach extends Message<M['Rattach']> { qid: Qid }
/** Rlerror tag[2] ecode[4]: a Linux errno. */
export interface Rlerror extends Message<M['Rlerror']> { ecode: number }
/** Tflush tag[2] oldtag[2]: abort request `oldtag`. */
export interface Tflush extends Message<M['Tflush']> { oldtag: number }
/** Rflush tag[2]. */
export type Rflush = Message<M['Rflush']>;

// --- Walking and fids ------------------------------------------------------------

/** Twalk tag[2] fid[4] newfid[4] nwname[2] nwname*(wname[s]). */
export interface Twalk extends Message<M['Twalk']> { fid: number; newfid: number; names: string[] }
/** Rwalk tag[2] nwqid[2] nwqid*(wqid[13]). */
export interface Rwalk extends Message<M['Rwalk']> { qids: Qid[] }
/** Tclunk tag[2] fid[4]. */
export interface Tclunk extends Message<M['Tclunk']> { fid: number }
export type Rclunk = Message<M['Rclunk']>;
/** Tremove tag[2] fid[4]: remove the file and clunk the fid. */
export interface Tremove extends Message<M['Tremove']> { fid: number }
export type Rremove = Message<M['Rremove']>;

// --- Opening, reading, writing ----------------------------------------------------

/** Tlopen tag[2] fid[4] flags[4] (Linux open flags). */
export interface Tlopen extends Message<M['Tlopen']> { fid: number; flags: number }
/** Rlopen tag[2] qid[13] iounit[4]. */
export interface Rlopen extends Message<M['Rlopen']> { qid: Qid; iounit: number }
/** Tlcreate tag[2] fid[4] name[s] flags[4] mode[4] gid[4]: create and open `name` in directory fid; fid becomes the file. */
export interface Tlcreate extends Message<M['Tlcreate']> { fid: number; name: string; flags: number; mode: number; gid: number }
/** Rlcreate tag[2] qid[13] iounit[4]. */
export interface Rlcreate extends Message<M['Rlcreate']> { qid: Qid; iounit: number }
/** Tread tag[2] fid[4] offset[8] count[4]. */
export interface Tread extends Message<M['Tread']> { fid: number; offset: number; count: number }
/**
 * Rread tag[2] count[4] data[count]. `data` null: the bytes travel outside
 * the codec (straight between guest RAM and the host fd); only the header
 * is encoded or decoded.
 */
export interface Rread extends Message<M['Rread']> { count: number; data: Uint8Array | null }
/** Twrite tag[2] fid[4] offset[8] count[4] data[count]; `data` null as for Rread. */
export interface Twrite extends Message<M['Twrite']> { fid: number; offset: number; count: number; data: Uint8Array | null }
/** Rwrite tag[2] count[4]. */
export interface Rwrite extends Message<M['Rwrite']> { count: number }
/** Tfsync tag[2] fid[4] datasync[4]. */
export interface Tfsync extends Message<M['Tfsync']> { fid: number; datasync: number }
export type Rfsync = Message<M['Rfsync']>;

// --- Attributes -------------------------------------------------------------------

/** Tgetattr tag[2] fid[4] request_mask[8]. */
export interface Tgetattr extends Message<M['Tgetattr']> { fid: number; requestMaskLo: number; requestMaskHi: number }
/**
 * Rgetattr tag[2] valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8]
 * size[8] blksize[8] blocks[8] atime_sec[8] atime_nsec[8] mtime_sec[8]
 * mtime_nsec[8] ctime_sec[8] ctime_nsec[8] btime_sec[8] btime_nsec[8]
 * gen[8] data_version[8]. Times' seconds are signed.
 */
export interface Rgetattr extends Message<M['Rgetattr']> {
  validLo: number; validHi: number; qid: Qid; mode: number; uid: number; gid: number;
  nlink: number; rdev: number; size: number; blksize: number; blocks: number;
  atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number; ctimeSec: number; ctimeNsec: number;
  btimeSec: number; btimeNsec: number; gen: number; dataVersion: number;
}
/**
 * Tsetattr tag[2] fid[4] valid[4] mode[4] uid[4] gid[4] size[8]
 * atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8].
 */
export interface Tsetattr extends Message<M['Tsetattr']> {
  fid: number; valid: number; mode: number; uid: number; gid: number; size: number;
  atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number;
}
export type Rsetattr = Message<M['Rsetattr']>;
/** Tstatfs tag[2] fid[4]. */
export interface Tstatfs extends Message<M['Tstatfs']> { fid: number }
/** Rstatfs tag[2] type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4]. */
export interface Rstatfs extends Message<M['Rstatfs']> {
  fsType: number; bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number;
  fsidLo: number; fsidHi: number; namelen: number;
}

// --- Directories ------------------------------------------------------------------

/** Treaddir tag[2] fid[4] offset[8] count[4]; the offset is a cookie from an earlier entry (opaque 64 bits, as halves). */
export interface Treaddir extends Message<M['Treaddir']> { fid: number; offsetLo: number; offsetHi: number; count: number }
/** Rreaddir tag[2] count[4] data[count]: entries qid[13] offset[8] type[1] name[s] (dirent.ts). */
export interface Rreaddir extends Message<M['Rreaddir']> { count: number; data: Uint8Array | null }
/** Tmkdir tag[2] dfid[4] name[s] mode[4] gid[4]. */
export interface Tmkdir extends Message<M['Tmkdir']> { dfid: number; name: string; mode: number; gid: number }
/** Rmkdir tag[2] qid[13]. */
export interface Rmkdir extends Message<M['Rmkdir']> { qid: Qid }
/** Tmknod tag[2] dfid[4] name[s] mode[4] major[4] minor[4] gid[4]. */
export interface Tmknod extends Message<M['Tmknod']> { dfid: number; name: string; mode: number; major: number; minor: number; gid: number }
/** Rmknod tag[2] qid[13]. */
export interface Rmknod extends Message<M['Rmknod']> { qid: Qid }
/** Tunlinkat tag[2] dirfd[4] name[s] flags[4] (AT_REMOVEDIR = 0x200). */
export interface Tunlinkat extends Message<M['Tunlinkat']> { dfid: number; name: string; flags: number }
export type Runlinkat = Message<M['Runlinkat']>;
/** Trenameat tag[2] olddirfid[4] oldname[s] newdirfid[4] newname[s]. */
export interface Trenameat extends Message<M['Trenameat']> { oldDfid: number; oldName: string; newDfid: number; newName: string }
export type Rrenameat = Message<M['Rrenameat']>;
/** Trename tag[2] fid[4] dfid[4] name[s]: move fid's file to `name` in directory dfid. */
export interface Trename extends Message<M['Trename']> { fid: number; dfid: number; name: string }
export type Rrename = Message<M['Rrename']>;

// --- Links ------------------------------------------------------------------------

/** Tsymlink tag[2] fid[4] name[s] symtgt[s] gid[4]. */
export interface Tsymlink extends Message<M['Tsymlink']> { dfid: number; name: string; target: string; gid: number }
/** Rsymlink tag[2] qid[13]. */
export interface Rsymlink extends Message<M['Rsymlink']> { qid: Qid }
/** Treadlink tag[2] fid[4]. */
export interface Treadlink extends Message<M['Treadlink']> { fid: number }
/** Rreadlink tag[2] target[s]. */
export interface Rreadlink extends Message<M['Rreadlink']> { target: string }
/** Tlink tag[2] dfid[4] fid[4] name[s]: a hard link to fid's file as `name` in dfid. */
export interface Tlink extends Message<M['Tlink']> { dfid: number; fid: number; name: string }
export type Rlink = Message<M['Rlink']>;

// --- Locks and extended attributes ----------------------------------------------

/** Tlock tag[2] fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s]. */
export interface Tlock extends Message<M['Tlock']> { fid: number; lockType: number; flags: number; start: number; length: number; procId: number; clientId: string }
/** Rlock tag[2] status[1]. */
export interface Rlock extends Message<M['Rlock']> { status: number }
/** Tgetlock tag[2] fid[4] type[1] start[8] length[8] proc_id[4] client_id[s]. */
export interface Tgetlock extends Message<M['Tgetlock']> { fid: number; lockType: number; start: number; length: number; procId: number; clientId: string }
/** Rgetlock tag[2] type[1] start[8] length[8] proc_id[4] client_id[s]. */
export interface Rgetlock extends Message<M['Rgetlock']> { lockType: number; start: number; length: number; procId: number; clientId: string }
/** Txattrwalk tag[2] fid[4] newfid[4] name[s]: newfid reads xattr `name` (the list of names when empty). */
export interface Txattrwalk extends Message<M['Txattrwalk']> { fid: number; newfid: number; name: string }
/** Rxattrwalk tag[2] size[8]. */
export interface Rxattrwalk extends Message<M['Rxattrwalk']> { size: number }
/** Txattrcreate tag[2] fid[4] name[s] attr_size[8] flags[4]: fid becomes a write handle for xattr `name`, set on clunk. */
export interface Txattrcreate extends Message<M['Txattrcreate']> { fid: number; name: string; attrSize: number; flags: number }
export type Rxattrcreate = Message<M['Rxattrcreate']>;

/** Every request the server decodes. */
export type TMessage =
  | Tversion | Tattach | Tflush | Twalk | Tclunk | Tremove
  | Tlopen | Tlcreate | Tread | Twrite | Tfsync
  | Tgetattr | Tsetattr | Tstatfs
  | Treaddir | Tmkdir | Tmknod | Tunlinkat | Trenameat | Trename
  | Tsymlink | Treadlink | Tlink
  | Tlock | Tgetlock | Txattrwalk | Txattrcreate;

/** Every reply the server encodes. */
export type RMessage =
  | Rlerror | Rversion | Rattach | Rflush | Rwalk | Rclunk | Rremove
  | Rlopen | Rlcreate | Rread | Rwrite | Rfsync
  | Rgetattr | Rsetattr | Rstatfs
  | Rreaddir | Rmkdir | Rmknod | Runlinkat | Rrenameat | Rrename
  | Rsymlink | Rreadlink | Rlink
  | Rlock | Rgetlock | Rxattrwalk | Rxattrcreate;

/** The name of message type `type` (`Twalk`), or `type N` for an unknown one: for logs. */
export function messageName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

const NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, type]) => [type, name]));
