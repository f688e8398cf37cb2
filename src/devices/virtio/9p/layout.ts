/**
 * The field layout of every message in messages.ts, after the
 * size[4] type[1] tag[2] header, as one table that both directions of the
 * codec (wire.ts) walk: the encoder and the decoder cannot disagree on an
 * order or a width. Sources: 9P2000.L protocol description (diod
 * protocol.md), Linux net/9p/client.c formats.
 */
import { MessageType as T } from './messages.js';

/**
 * How a field is encoded:
 * - `u8`, `u16`, `u32`: unsigned little-endian integers;
 * - `u64`: unsigned 64-bit, as a Number: exact below 2^53; larger values
 *   decode to the nearest double (always above Number.MAX_SAFE_INTEGER, so
 *   a consumer rejects them with one `Number.isSafeInteger` check);
 * - `i64`: the same, two's complement signed (times' seconds);
 * - `qid`: type[1] version[4] path[8];
 * - `str`: len[2] + UTF-8, no NUL (paths, targets, xattr names, versions);
 * - `name`: a `str` that is one path component: non-empty, no '/';
 * - `names`: nwname[2] + that many `name`s (at most 16);
 * - `qids`: nwqid[2] + that many `qid`s (at most 16);
 * - `data`: count[4] + count bytes, as two fields `count` and `data`;
 *   always last, so the bytes can stay outside the codec (data null).
 */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'qid' | 'str' | 'name' | 'names' | 'qids' | 'data';

export type Layout = readonly (readonly [field: string, kind: FieldKind])[];

const none: Layout = [];
const qidOnly: Layout = [['qid', 'qid']];

/** Layouts of the T-messages the server decodes. */
export const T_LAYOUTS: ReadonlyMap<number, Layout> = new Map<number, Layout>([
  [T.Tversion, [['msize', 'u32'], ['version', 'str']]],
  [T.Tattach, [['fid', 'u32'], ['afid', 'u32'], ['uname', 'str'], ['aname', 'str'], ['nUname', 'u32']]],
  [T.Tflush, [['oldtag', 'u16']]],
  [T.Twalk, [['fid', 'u32'], ['newfid', 'u32'], ['names', 'names']]],
  [T.Tclunk, [['fid', 'u32']]],
  [T.Tremove, [['fid', 'u32']]],
  [T.Tlopen, [['fid', 'u32'], ['flags', 'u32']]],
  [T.Tlcreate, [['fid', 'u32'], ['name', 'name'], ['flags', 'u32'], ['mode', 'u32'], ['gid', 'u32']]],
  [T.Tread, [['fid', 'u32'], ['offset', 'u64'], ['count', 'u32']]],
  [T.Twrite, [['fid', 'u32'], ['offset', 'u64'], ['data', 'data']]],
  [T.Tfsync, [['fid', 'u32'], ['datasync', 'u32']]],
  [T.Tgetattr, [['fid', 'u32'], ['requestMaskLo', 'u32'], ['requestMaskHi', 'u32']]],
  [T.Tsetattr, [
    ['fid', 'u32'], ['valid', 'u32'], ['mode', 'u32'], ['uid', 'u32'], ['gid', 'u32'], ['size', 'u64'],
    ['atimeSec', 'i64'], ['atimeNsec', 'u64'], ['mtimeSec', 'i64'], ['mtimeNsec', 'u64'],
  ]],
  [T.Tstatfs, [['fid', 'u32']]],
  [T.Treaddir, [['fid', 'u32'], ['offsetLo', 'u32'], ['offsetHi', 'u32'], ['count', 'u32']]],
  [T.Tmkdir, [['dfid', 'u32'], ['name', 'name'], ['mode', 'u32'], ['gid', 'u32']]],
  [T.Tmknod, [['dfid', 'u32'], ['name', 'name'], ['mode', 'u32'], ['major', 'u32'], ['minor', 'u32'], ['gid', 'u32']]],
  [T.Tunlinkat, [['dfid', 'u32'], ['name', 'name'], ['flags', 'u32']]],
  [T.Trenameat, [['oldDfid', 'u32'], ['oldName', 'name'], ['newDfid', 'u32'], ['newName', 'name']]],
  [T.Trename, [['fid', 'u32'], ['dfid', 'u32'], ['name', 'name']]],
  [T.Tsymlink, [['dfid', 'u32'], ['name', 'name'], ['target', 'str'], ['gid', 'u32']]],
  [T.Treadlink, [['fid', 'u32']]],
  [T.Tlink, [['dfid', 'u32'], ['fid', 'u32'], ['name', 'name']]],
  [T.Tlock, [['fid', 'u32'], ['lockType', 'u8'], ['flags', 'u32'], ['start', 'u64'], ['length', 'u64'], ['procId', 'u32'], ['clientId', 'str']]],
  [T.Tgetlock, [['fid', 'u32'], ['lockType', 'u8'], ['start', 'u64'], ['length', 'u64'], ['procId', 'u32'], ['clientId', 'str']]],
  [T.Txattrwalk, [['fid', 'u32'], ['newfid', 'u32'], ['name', 'str']]],
  [T.Txattrcreate, [['fid', 'u32'], ['name', 'str'], ['attrSize', 'u64'], ['flags', 'u32']]],
]);

/** Layouts of the R-messages the server encodes. */
export const R_LAYOUTS: ReadonlyMap<number, Layout> = new Map<number, Layout>([
  [T.Rlerror, [['ecode', 'u32']]],
  [T.Rversion, [['msize', 'u32'], ['version', 'str']]],
  [T.Rattach, qidOnly],
  [T.Rflush, none],
  [T.Rwalk, [['qids', 'qids']]],
  [T.Rclunk, none],
  [T.Rremove, none],
  [T.Rlopen, [['qid', 'qid'], ['iounit', 'u32']]],
  [T.Rlcreate, [['qid', 'qid'], ['iounit', 'u32']]],
  [T.Rread, [['data', 'data']]],
  [T.Rwrite, [['count', 'u32']]],
  [T.Rfsync, none],
  [T.Rgetattr, [
    ['validLo', 'u32'], ['validHi', 'u32'], ['qid', 'qid'], ['mode', 'u32'], ['uid', 'u32'], ['gid', 'u32'],
    ['nlink', 'u64'], ['rdev', 'u64'], ['size', 'u64'], ['blksize', 'u64'], ['blocks', 'u64'],
    ['atimeSec', 'i64'], ['atimeNsec', 'u64'], ['mtimeSec', 'i64'], ['mtimeNsec', 'u64'], ['ctimeSec', 'i64'], ['ctimeNsec', 'u64'],
    ['btimeSec', 'i64'], ['btimeNsec', 'u64'], ['gen', 'u64'], ['dataVersion', 'u64'],
  ]],
  [T.Rsetattr, none],
  [T.Rstatfs, [
    ['fsType', 'u32'], ['bsize', 'u32'], ['blocks', 'u64'], ['bfree', 'u64'], ['bavail', 'u64'], ['files', 'u64'], ['ffree', 'u64'],
    ['fsidLo', 'u32'], ['fsidHi', 'u32'], ['namelen', 'u32'],
  ]],
  [T.Rreaddir, [['data', 'data']]],
  [T.Rmkdir, qidOnly],
  [T.Rmknod, qidOnly],
  [T.Runlinkat, none],
  [T.Rrenameat, none],
  [T.Rrename, none],
  [T.Rsymlink, qidOnly],
  [T.Rreadlink, [['target', 'str']]],
  [T.Rlink, none],
  [T.Rlock, [['status', 'u8']]],
  [T.Rgetlock, [['lockType', 'u8'], ['start', 'u64'], ['length', 'u64'], ['procId', 'u32'], ['clientId', 'str']]],
  [T.Rxattrwalk, [['size', 'u64']]],
  [T.Rxattrcreate, none],
]);
