/**
 * fast-check arbitraries for every 9P2000.L message (messages.ts), written
 * field by field from the message descriptions rather than from the codec's
 * layout table, so the codec's tests check the table too. Used by the codec
 * tests and the server fuzz (test files only).
 */
import fc from 'fast-check';
import { MAX_WALK_NAMES, MessageType as M, type Qid, type RMessage, type TMessage } from '../devices/virtio/9p/messages.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** 64-bit quantities as the codec carries them: safe integers. */
export const u64 = fc.maxSafeNat();
export const i64 = fc.maxSafeInteger();
export const qid: fc.Arbitrary<Qid> = rec({ type: u8, version: u32, pathLo: u32, pathHi: u32 });
/** Any string without NUL (every Unicode code point, no lone surrogates). */
export const text = fc.string({ unit: 'binary', maxLength: 24 }).filter((s) => !s.includes('\0'));
/** A path component: non-empty, no '/' or NUL. */
export const fileName = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => !s.includes('\0') && !s.includes('/'));
/** fc.record with ordinary prototypes, so decoded messages compare equal. */
function rec<T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(shape, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const bytes = fc.uint8Array({ maxLength: 64 });
const tag = u16;

/** Rgetattr/Tsetattr time and size fields. */
const attrs = {
  atimeSec: i64, atimeNsec: u64, mtimeSec: i64, mtimeNsec: u64,
};

export const tMessages: Record<string, fc.Arbitrary<TMessage>> = {
  Tversion: rec({ type: fc.constant(M.Tversion), tag, msize: u32, version: text }),
  Tattach: rec({ type: fc.constant(M.Tattach), tag, fid: u32, afid: u32, uname: text, aname: text, nUname: u32 }),
  Tflush: rec({ type: fc.constant(M.Tflush), tag, oldtag: u16 }),
  Twalk: rec({ type: fc.constant(M.Twalk), tag, fid: u32, newfid: u32, names: fc.array(fileName, { maxLength: MAX_WALK_NAMES }) }),
  Tclunk: rec({ type: fc.constant(M.Tclunk), tag, fid: u32 }),
  Tremove: rec({ type: fc.constant(M.Tremove), tag, fid: u32 }),
  Tlopen: rec({ type: fc.constant(M.Tlopen), tag, fid: u32, flags: u32 }),
  Tlcreate: rec({ type: fc.constant(M.Tlcreate), tag, fid: u32, name: fileName, flags: u32, mode: u32, gid: u32 }),
  Tread: rec({ type: fc.constant(M.Tread), tag, fid: u32, offset: u64, count: u32 }),
  Twrite: rec({ type: fc.constant(M.Twrite), tag, fid: u32, offset: u64, data: bytes }).map((m) => ({ ...m, count: m.data.length })),
  Tfsync: rec({ type: fc.constant(M.Tfsync), tag, fid: u32, datasync: u32 }),
  Tgetattr: rec({ type: fc.constant(M.Tgetattr), tag, fid: u32, requestMaskLo: u32, requestMaskHi: u32 }),
  Tsetattr: rec({ type: fc.constant(M.Tsetattr), tag, fid: u32, valid: u32, mode: u32, uid: u32, gid: u32, size: u64, ...attrs }),
  Tstatfs: rec({ type: fc.constant(M.Tstatfs), tag, fid: u32 }),
  Treaddir: rec({ type: fc.constant(M.Treaddir), tag, fid: u32, offsetLo: u32, offsetHi: u32, count: u32 }),
  Tmkdir: rec({ type: fc.constant(M.Tmkdir), tag, dfid: u32, name: fileName, mode: u32, gid: u32 }),
  Tmknod: rec({ type: fc.constant(M.Tmknod), tag, dfid: u32, name: fileName, mode: u32, major: u32, minor: u32, gid: u32 }),
  Tunlinkat: rec({ type: fc.constant(M.Tunlinkat), tag, dfid: u32, name: fileName, flags: u32 }),
  Trenameat: rec({ type: fc.constant(M.Trenameat), tag, oldDfid: u32, oldName: fileName, newDfid: u32, newName: fileName }),
  Trename: rec({ type: fc.constant(M.Trename), tag, fid: u32, dfid: u32, name: fileName }),
  Tsymlink: rec({ type: fc.constant(M.Tsymlink), tag, dfid: u32, name: fileName, target: text, gid: u32 }),
  Treadlink: rec({ type: fc.constant(M.Treadlink), tag, fid: u32 }),
  Tlink: rec({ type: fc.constant(M.Tlink), tag, dfid: u32, fid: u32, name: fileName }),
  Tlock: rec({ type: fc.constant(M.Tlock), tag, fid: u32, lockType: u8, flags: u32, start: u64, length: u64, procId: u32, clientId: text }),
  Tgetlock: rec({ type: fc.constant(M.Tgetlock), tag, fid: u32, lockType: u8, start: u64, length: u64, procId: u32, clientId: text }),
  Txattrwalk: rec({ type: fc.constant(M.Txattrwalk), tag, fid: u32, newfid: u32, name: text }),
  Txattrcreate: rec({ type: fc.constant(M.Txattrcreate), tag, fid: u32, name: text, attrSize: u64, flags: u32 }),
};

export const rMessages: Record<string, fc.Arbitrary<RMessage>> = {
  Rlerror: rec({ type: fc.constant(M.Rlerror), tag, ecode: u32 }),
  Rversion: rec({ type: fc.constant(M.Rversion), tag, msize: u32, version: text }),
  Rattach: rec({ type: fc.constant(M.Rattach), tag, qid }),
  Rflush: rec({ type: fc.constant(M.Rflush), tag }),
  Rwalk: rec({ type: fc.constant(M.Rwalk), tag, qids: fc.array(qid, { maxLength: MAX_WALK_NAMES }) }),
  Rclunk: rec({ type: fc.constant(M.Rclunk), tag }),
  Rremove: rec({ type: fc.constant(M.Rremove), tag }),
  Rlopen: rec({ type: fc.constant(M.Rlopen), tag, qid, iounit: u32 }),
  Rlcreate: rec({ type: fc.constant(M.Rlcreate), tag, qid, iounit: u32 }),
  Rread: rec({ type: fc.constant(M.Rread), tag, data: bytes }).map((m) => ({ ...m, count: m.data.length })),
  Rwrite: rec({ type: fc.constant(M.Rwrite), tag, count: u32 }),
  Rfsync: rec({ type: fc.constant(M.Rfsync), tag }),
  Rgetattr: rec({
    type: fc.constant(M.Rgetattr), tag, validLo: u32, validHi: u32, qid, mode: u32, uid: u32, gid: u32,
    nlink: u64, rdev: u64, size: u64, blksize: u64, blocks: u64, ...attrs, ctimeSec: i64, ctimeNsec: u64,
    btimeSec: i64, btimeNsec: u64, gen: u64, dataVersion: u64,
  }),
  Rsetattr: rec({ type: fc.constant(M.Rsetattr), tag }),
  Rstatfs: rec({
    type: fc.constant(M.Rstatfs), tag, fsType: u32, bsize: u32, blocks: u64, bfree: u64, bavail: u64, files: u64, ffree: u64,
    fsidLo: u32, fsidHi: u32, namelen: u32,
  }),
  Rreaddir: rec({ type: fc.constant(M.Rreaddir), tag, data: bytes }).map((m) => ({ ...m, count: m.data.length })),
  Rmkdir: rec({ type: fc.constant(M.Rmkdir), tag, qid }),
  Rmknod: rec({ type: fc.constant(M.Rmknod), tag, qid }),
  Runlinkat: rec({ type: fc.constant(M.Runlinkat), tag }),
  Rrenameat: rec({ type: fc.constant(M.Rrenameat), tag }),
  Rrename: rec({ type: fc.constant(M.Rrename), tag }),
  Rsymlink: rec({ type: fc.constant(M.Rsymlink), tag, qid }),
  Rreadlink: rec({ type: fc.constant(M.Rreadlink), tag, target: text }),
  Rlink: rec({ type: fc.constant(M.Rlink), tag }),
  Rlock: rec({ type: fc.constant(M.Rlock), tag, status: u8 }),
  Rgetlock: rec({ type: fc.constant(M.Rgetlock), tag, lockType: u8, start: u64, length: u64, procId: u32, clientId: text }),
  Rxattrwalk: rec({ type: fc.constant(M.Rxattrwalk), tag, size: u64 }),
  Rxattrcreate: rec({ type: fc.constant(M.Rxattrcreate), tag }),
};

/** String fields of each T-message, and whether each must be a file name. */
export const T_STRING_FIELDS: Record<string, readonly (readonly [field: string, isName: boolean])[]> = {
  Tversion: [['version', false]],
  Tattach: [['uname', false], ['aname', false]],
  Tlcreate: [['name', true]],
  Tmkdir: [['name', true]],
  Tmknod: [['name', true]],
  Tunlinkat: [['name', true]],
  Trenameat: [['oldName', true], ['newName', true]],
  Trename: [['name', true]],
  Tsymlink: [['name', true], ['target', false]],
  Tlink: [['name', true]],
  Tlock: [['clientId', false]],
  Tgetlock: [['clientId', false]],
  Txattrwalk: [['name', false]],
  Txattrcreate: [['name', false]],
};
