/**
 * Decoding of struct statx (statx(2), include/uapi/linux/stat.h) and
 * struct statfs (statfs(2), x86-64) into the layer's FileAttr and FsStats,
 * field by field, with no allocation.
 */
import type { FileAttr, FsStats } from '../../devices/fs.js';
import type { QidFolder } from './qid.js';

const TWO_32 = 0x1_0000_0000;

function u64(v: DataView, at: number): number {
  return v.getUint32(at + 4, true) * TWO_32 + v.getUint32(at, true);
}

function s64(v: DataView, at: number): number {
  return v.getInt32(at + 4, true) * TWO_32 + v.getUint32(at, true);
}

/** Offsets in struct statx. */
const STX = {
  blksize: 4, nlink: 16, uid: 20, gid: 24, mode: 28, ino: 32, size: 40, blocks: 48,
  atime: 64, btime: 80, ctime: 96, mtime: 112, rdevMajor: 128, rdevMinor: 132, devMajor: 136, devMinor: 140,
} as const;
const STATX_BTIME = 0x800;

export function statxMode(v: DataView): number {
  return v.getUint16(STX.mode, true);
}

export function fillAttr(v: DataView, out: FileAttr, qids: QidFolder): void {
  out.mode = v.getUint16(STX.mode, true);
  out.uid = v.getUint32(STX.uid, true);
  out.gid = v.getUint32(STX.gid, true);
  out.nlink = v.getUint32(STX.nlink, true);
  out.rdevMajor = v.getUint32(STX.rdevMajor, true);
  out.rdevMinor = v.getUint32(STX.rdevMinor, true);
  out.size = u64(v, STX.size);
  out.blksize = v.getUint32(STX.blksize, true);
  out.blocks = u64(v, STX.blocks);
  out.atimeSec = s64(v, STX.atime);
  out.atimeNsec = v.getUint32(STX.atime + 8, true);
  out.mtimeSec = s64(v, STX.mtime);
  out.mtimeNsec = v.getUint32(STX.mtime + 8, true);
  out.ctimeSec = s64(v, STX.ctime);
  out.ctimeNsec = v.getUint32(STX.ctime + 8, true);
  if ((v.getUint32(0, true) & STATX_BTIME) !== 0) {
    out.btimeSec = s64(v, STX.btime);
    out.btimeNsec = v.getUint32(STX.btime + 8, true);
  } else {
    out.btimeSec = 0;
    out.btimeNsec = 0;
  }
  out.inoHi = v.getUint32(STX.ino + 4, true);
  out.inoLo = v.getUint32(STX.ino, true);
  out.devMajor = v.getUint32(STX.devMajor, true);
  out.devMinor = v.getUint32(STX.devMinor, true);
  qids.fold(out.devMajor, out.devMinor, out.inoHi, out.inoLo);
  out.qidPathHi = qids.hi;
  out.qidPathLo = qids.lo;
}

/** The identity fields of a statx result, for comparing two objects. */
export function sameObject(a: DataView, b: DataView): boolean {
  return a.getUint32(STX.ino, true) === b.getUint32(STX.ino, true)
    && a.getUint32(STX.ino + 4, true) === b.getUint32(STX.ino + 4, true)
    && a.getUint32(STX.devMajor, true) === b.getUint32(STX.devMajor, true)
    && a.getUint32(STX.devMinor, true) === b.getUint32(STX.devMinor, true);
}

export function statxDev(v: DataView): [major: number, minor: number] {
  return [v.getUint32(STX.devMajor, true), v.getUint32(STX.devMinor, true)];
}

export function statxSize(v: DataView): number {
  return u64(v, STX.size);
}

export function fillStats(v: DataView, out: FsStats): void {
  out.type = u64(v, 0);
  out.bsize = u64(v, 8);
  out.blocks = u64(v, 16);
  out.bfree = u64(v, 24);
  out.bavail = u64(v, 32);
  out.files = u64(v, 40);
  out.ffree = u64(v, 48);
  out.fsidLo = v.getUint32(56, true);
  out.fsidHi = v.getUint32(60, true);
  out.namelen = u64(v, 64);
}
