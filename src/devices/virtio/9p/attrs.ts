/**
 * Conversions between SharedTree attributes and 9P2000.L fields: qids from
 * modes and d_types, Rgetattr from a FileAttr, Tsetattr into a SetAttr,
 * Rstatfs from FsStats. All fill caller-owned objects (no allocation on the
 * getattr path).
 */
import {
  DT_DIR, DT_LNK, type FileAttr, type FsStats, S_IFDIR, S_IFLNK, S_IFMT, type SetAttr, SetAttrMask, TIME_NOW,
} from '../../fs.js';
import { GetattrMask, MessageType, type Qid, QidType, type Rgetattr, type Rstatfs, SetattrMask, type Tsetattr } from './messages.js';

/** The qid type of an st_mode (directories and symlinks are marked; everything else is a file). */
export function qidTypeOfMode(mode: number): number {
  const type = mode & S_IFMT;
  return type === S_IFDIR ? QidType.DIR : type === S_IFLNK ? QidType.SYMLINK : QidType.FILE;
}

/** The qid type of a d_type. */
export function qidTypeOfDtype(dtype: number): number {
  return dtype === DT_DIR ? QidType.DIR : dtype === DT_LNK ? QidType.SYMLINK : QidType.FILE;
}

/** Fills `out` with the qid of the object `attr` describes (version 0: 9P2000.L clients do not use it). */
export function qidOf(attr: FileAttr, out: Qid): Qid {
  out.type = qidTypeOfMode(attr.mode);
  out.version = 0;
  out.pathLo = attr.qidPathLo;
  out.pathHi = attr.qidPathHi;
  return out;
}

/** Linux's new_encode_dev: the 32-bit device number v9fs decodes (new_decode_dev). */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** A reusable Rgetattr. */
export function emptyRgetattr(): Rgetattr {
  return {
    type: MessageType.Rgetattr, tag: 0, validLo: 0, validHi: 0, qid: { type: 0, version: 0, pathLo: 0, pathHi: 0 },
    mode: 0, uid: 0, gid: 0, nlink: 0, rdev: 0, size: 0, blksize: 0, blocks: 0,
    atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0, btimeSec: 0, btimeNsec: 0, gen: 0, dataVersion: 0,
  };
}

/** Fills `out` (Rgetattr, 9P2000.L Tgetattr) from `attr`: the basic fields, and btime when the host has it. */
export function fillRgetattr(out: Rgetattr, tag: number, attr: FileAttr): Rgetattr {
  out.tag = tag;
  out.validLo = GetattrMask.BASIC | (attr.btimeSec !== 0 || attr.btimeNsec !== 0 ? GetattrMask.BTIME : 0);
  out.validHi = 0;
  qidOf(attr, out.qid);
  out.mode = attr.mode;
  out.uid = attr.uid;
  out.gid = attr.gid;
  out.nlink = attr.nlink;
  out.rdev = encodeDev(attr.rdevMajor, attr.rdevMinor);
  out.size = attr.size;
  out.blksize = attr.blksize;
  out.blocks = attr.blocks;
  out.atimeSec = attr.atimeSec;
  out.atimeNsec = attr.atimeNsec;
  out.mtimeSec = attr.mtimeSec;
  out.mtimeNsec = attr.mtimeNsec;
  out.ctimeSec = attr.ctimeSec;
  out.ctimeNsec = attr.ctimeNsec;
  out.btimeSec = attr.btimeSec;
  out.btimeNsec = attr.btimeNsec;
  return out;
}

/**
 * Fills `out` from a Tsetattr (Linux P9_ATTR_* bits): ATIME without
 * ATIME_SET means "now", as utimensat's UTIME_NOW; CTIME alone changes
 * nothing the host does not update itself. Returns false when a value is
 * out of range (a size or time that is not a safe integer).
 */
export function fillSetAttr(out: SetAttr, m: Tsetattr): boolean {
  let valid = 0;
  if (m.valid & SetattrMask.MODE) valid |= SetAttrMask.MODE;
  if (m.valid & SetattrMask.UID) valid |= SetAttrMask.UID;
  if (m.valid & SetattrMask.GID) valid |= SetAttrMask.GID;
  if (m.valid & SetattrMask.SIZE) {
    if (!Number.isSafeInteger(m.size)) return false;
    valid |= SetAttrMask.SIZE;
  }
  out.mode = m.mode & 0o7777;
  out.uid = m.uid;
  out.gid = m.gid;
  out.size = m.size;
  if (m.valid & SetattrMask.ATIME) {
    valid |= SetAttrMask.ATIME;
    if (m.valid & SetattrMask.ATIME_SET) {
      if (!Number.isSafeInteger(m.atimeSec) || m.atimeNsec >= 1e9) return false;
      out.atimeSec = m.atimeSec;
      out.atimeNsec = m.atimeNsec;
    } else {
      out.atimeSec = 0;
      out.atimeNsec = TIME_NOW;
    }
  }
  if (m.valid & SetattrMask.MTIME) {
    valid |= SetAttrMask.MTIME;
    if (m.valid & SetattrMask.MTIME_SET) {
      if (!Number.isSafeInteger(m.mtimeSec) || m.mtimeNsec >= 1e9) return false;
      out.mtimeSec = m.mtimeSec;
      out.mtimeNsec = m.mtimeNsec;
    } else {
      out.mtimeSec = 0;
      out.mtimeNsec = TIME_NOW;
    }
  }
  out.valid = valid;
  return true;
}

/** An Rstatfs from the host's statfs. */
export function rstatfsOf(tag: number, s: FsStats): Rstatfs {
  return {
    type: MessageType.Rstatfs, tag, fsType: s.type, bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
    files: s.files, ffree: s.ffree, fsidLo: s.fsidLo, fsidHi: s.fsidHi, namelen: s.namelen,
  };
}
