import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants } from 'node:os';
import type { SharedTree } from '../../fs.js';
import { NinePClient, RlerrorReply } from '../../../testing/9p-client.js';
import { withTree } from '../../../testing/shared-tree.js';
import { decodeDirents } from './dirent.js';
import { NinePWireError } from './errors.js';
import { GetattrMask, LockStatus, MessageType as M, NOFID, QidType, SetattrMask } from './messages.js';
import { encodeTMessage } from './wire.js';

const E = constants.errno;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_EXCL = 0o200;
const O_DIRECTORY = 0o200000;

async function rejects(p: Promise<unknown>, errno: number): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof RlerrorReply && err.ecode === errno, `expected errno ${errno}`);
}

function withClient(fn: (c: NinePClient, dir: string, tree: SharedTree) => Promise<void>, options: { readOnly?: boolean; setup?: (dir: string) => void } = {}) {
  return withTree(async ({ dir, tree }) => {
    const client = new NinePClient(tree);
    try {
      await fn(client, dir, tree);
    } finally {
      client.close();
    }
  }, options);
}

test('version negotiates msize and the protocol; nothing is served before it', () => withClient(async (c) => {
  assert.equal(await c.errnoOf({ type: M.Tattach, fid: 0, afid: NOFID, uname: '', aname: '', nUname: 0 }), E.EPROTO);
  const v = await c.call({ type: M.Tversion, tag: 0xffff, msize: 1 << 30, version: '9P2000.L' }, M.Rversion);
  assert.deepEqual([v.msize, v.version], [512000, '9P2000.L']);
  const small = await c.call({ type: M.Tversion, tag: 0xffff, msize: 8192, version: '9P2000.L' }, M.Rversion);
  assert.equal(small.msize, 8192);
  const other = await c.call({ type: M.Tversion, tag: 0xffff, msize: 8192, version: '9P2000.u' }, M.Rversion);
  assert.equal(other.version, 'unknown');
  assert.equal(await c.errnoOf({ type: M.Tattach, fid: 0, afid: NOFID, uname: '', aname: '', nUname: 0 }), E.EPROTO);
}));

test('attach, walk (full, partial, failing first), getattr and clunk', () => withClient(async (c, dir) => {
  fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a/b/f'), 'hello');
  const root = await c.mount();
  assert.equal(root.type, QidType.DIR);
  const qids = await c.walk(0, 1, ['a', 'b', 'f']);
  assert.deepEqual(qids.map((q) => q.type), [QidType.DIR, QidType.DIR, QidType.FILE]);
  assert.equal(qids[2]!.pathHi * 2 ** 32 + qids[2]!.pathLo, Number(fs.statSync(path.join(dir, 'a/b/f'), { bigint: true }).ino));
  const attr = await c.call({ type: M.Tgetattr, fid: 1, requestMaskLo: GetattrMask.ALL, requestMaskHi: 0 }, M.Rgetattr);
  assert.equal(attr.size, 5);
  assert.equal(attr.mode & 0o170000, 0o100000);
  assert.equal(attr.validLo & GetattrMask.BASIC, GetattrMask.BASIC);
  assert.deepEqual(attr.qid, qids[2]);
  // Partial walk: the qids that succeeded, and newfid stays unbound.
  const partial = await c.walk(0, 2, ['a', 'missing', 'x']);
  assert.equal(partial.length, 1);
  assert.equal(await c.errnoOf({ type: M.Tclunk, fid: 2 }), E.EBADF);
  await rejects(c.call({ type: M.Twalk, fid: 0, newfid: 2, names: ['missing'] }, M.Rwalk), E.ENOENT);
  // '..' at the root stays at the root; newfid in use is refused.
  const up = await c.walk(0, 3, ['..', '..']);
  assert.deepEqual(up[1], root);
  await rejects(c.call({ type: M.Twalk, fid: 0, newfid: 1, names: [] }, M.Rwalk), E.EBADF);
  // Walk with 0 names clones; walking a fid onto itself moves it.
  assert.deepEqual(await c.walk(1, 4, []), []);
  await c.walk(3, 3, ['a']);
  const moved = await c.call({ type: M.Tgetattr, fid: 3, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 }, M.Rgetattr);
  assert.deepEqual(moved.qid, qids[0]);
  for (const fid of [1, 3, 4]) await c.call({ type: M.Tclunk, fid }, M.Rclunk);
  assert.equal(await c.errnoOf({ type: M.Tclunk, fid: 1 }), E.EBADF);
  assert.equal(c.device.server.fidCount, 1);
}));

test('lcreate, write across many descriptors, read back into many, fsync, and O_EXCL', () => withClient(async (c, dir) => {
  await c.mount();
  await c.walk(0, 1, []);
  const created = await c.call({ type: M.Tlcreate, fid: 1, name: 'data', flags: O_RDWR | O_EXCL, mode: 0o640, gid: NOFID }, M.Rlcreate);
  assert.equal(created.qid.type, QidType.FILE);
  assert.equal(fs.statSync(path.join(dir, 'data')).mode & 0o777, 0o640);
  const payload = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 11)) & 0xff);
  const w = await c.call({ type: M.Twrite, fid: 1, offset: 0, count: payload.length, data: payload }, M.Rwrite, { pieces: 75 });
  assert.equal(w.count, payload.length);
  await c.call({ type: M.Tfsync, fid: 1, datasync: 0 }, M.Rfsync);
  assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, 'data'))), payload);
  const r = await c.call({ type: M.Tread, fid: 1, offset: 1000, count: 200_000 }, M.Rread, { replyPieces: 60 });
  assert.equal(r.count, 200_000);
  assert.deepEqual(r.data, payload.subarray(1000, 201_000));
  // At end of file: a short read, then 0.
  const tail = await c.call({ type: M.Tread, fid: 1, offset: 299_990, count: 100 }, M.Rread);
  assert.equal(tail.count, 10);
  assert.equal((await c.call({ type: M.Tread, fid: 1, offset: 400_000, count: 100 }, M.Rread)).count, 0);
  // A read larger than the reply space is cut to fit it.
  assert.equal((await c.call({ type: M.Tread, fid: 1, offset: 0, count: 100_000 }, M.Rread, { replyBytes: 4096 + 11 })).count, 4096);
  await c.walk(0, 2, []);
  await rejects(c.call({ type: M.Tlcreate, fid: 2, name: 'data', flags: O_RDWR | O_EXCL, mode: 0o600, gid: NOFID }, M.Rlcreate), E.EEXIST);
  // Writes on a read-only open and reads on a write-only one are EBADF; an unopened fid cannot do I/O.
  await c.walk(0, 3, ['data']);
  await c.call({ type: M.Tlopen, fid: 3, flags: O_RDONLY }, M.Rlopen);
  await rejects(c.call({ type: M.Twrite, fid: 3, offset: 0, count: 1, data: Uint8Array.of(1) }, M.Rwrite), E.EBADF);
  await c.walk(0, 4, ['data']);
  await rejects(c.call({ type: M.Tread, fid: 4, offset: 0, count: 1 }, M.Rread), E.EBADF);
  await c.call({ type: M.Tlopen, fid: 4, flags: O_WRONLY }, M.Rlopen);
  await rejects(c.call({ type: M.Tread, fid: 4, offset: 0, count: 1 }, M.Rread), E.EBADF);
  await rejects(c.call({ type: M.Tlopen, fid: 4, flags: O_RDONLY }, M.Rlopen), E.EINVAL);
}));

test('readdir in batches with cookies lists every entry once', () => withClient(async (c, dir) => {
  const names = Array.from({ length: 1500 }, (_, i) => `entry-${i}-${'x'.repeat(i % 40)}`);
  for (const n of names) fs.writeFileSync(path.join(dir, n), '');
  fs.mkdirSync(path.join(dir, 'sub'));
  await c.mount();
  await c.walk(0, 1, []);
  await c.call({ type: M.Tlopen, fid: 1, flags: O_RDONLY | O_DIRECTORY }, M.Rlopen);
  const seen: string[] = [];
  let cookie = { lo: 0, hi: 0 };
  for (let round = 0; round < 1000; round++) {
    const r = await c.call({ type: M.Treaddir, fid: 1, offsetLo: cookie.lo, offsetHi: cookie.hi, count: 4000 }, M.Rreaddir);
    if (r.count === 0) break;
    const entries = decodeDirents(r.data!);
    assert.ok(!(entries instanceof NinePWireError));
    for (const e of entries) {
      seen.push(e.name);
      if (e.name === 'sub') assert.equal(e.qid.type, QidType.DIR);
    }
    const last = entries.at(-1)!;
    cookie = { lo: last.offsetLo, hi: last.offsetHi };
  }
  assert.deepEqual(seen.filter((n) => n !== '.' && n !== '..').sort(), [...names, 'sub'].sort());
  assert.ok(seen.includes('.') && seen.includes('..'));
}));

test('mkdir, mknod, symlink, readlink, link, renameat, unlinkat, statfs, setattr', () => withClient(async (c, dir) => {
  fs.writeFileSync(path.join(dir, 'f'), 'abcdef');
  await c.mount();
  const d = await c.call({ type: M.Tmkdir, dfid: 0, name: 'd', mode: 0o1777, gid: NOFID }, M.Rmkdir);
  assert.equal(d.qid.type, QidType.DIR);
  assert.equal(fs.statSync(path.join(dir, 'd')).mode & 0o7777, 0o1777);
  await c.call({ type: M.Tmknod, dfid: 0, name: 'fifo', mode: 0o10644, major: 0, minor: 0, gid: NOFID }, M.Rmknod);
  assert.ok(fs.lstatSync(path.join(dir, 'fifo')).isFIFO());
  const s = await c.call({ type: M.Tsymlink, dfid: 0, name: 'link', target: '../../outside', gid: NOFID }, M.Rsymlink);
  assert.equal(s.qid.type, QidType.SYMLINK);
  await c.walk(0, 1, ['link']);
  assert.equal((await c.call({ type: M.Treadlink, fid: 1 }, M.Rreadlink)).target, '../../outside');
  // The symlink is never followed: opening it is ELOOP.
  await rejects(c.call({ type: M.Tlopen, fid: 1, flags: O_RDONLY }, M.Rlopen), E.ELOOP);
  await c.walk(0, 2, ['f']);
  await c.call({ type: M.Tlink, dfid: 0, fid: 2, name: 'hard' }, M.Rlink);
  assert.equal(fs.statSync(path.join(dir, 'f')).nlink, 2);
  await c.walk(0, 3, ['d']);
  await c.call({ type: M.Trenameat, oldDfid: 0, oldName: 'hard', newDfid: 3, newName: 'moved' }, M.Rrenameat);
  assert.ok(fs.existsSync(path.join(dir, 'd/moved')));
  await rejects(c.call({ type: M.Tunlinkat, dfid: 0, name: 'd', flags: 0x200 }, M.Runlinkat), E.ENOTEMPTY);
  await c.call({ type: M.Tunlinkat, dfid: 3, name: 'moved', flags: 0 }, M.Runlinkat);
  await c.call({ type: M.Tunlinkat, dfid: 0, name: 'd', flags: 0x200 }, M.Runlinkat);
  assert.ok(!fs.existsSync(path.join(dir, 'd')));
  const st = await c.call({ type: M.Tstatfs, fid: 0 }, M.Rstatfs);
  assert.ok(st.bsize > 0 && st.namelen >= 255);
  await c.call({
    type: M.Tsetattr, fid: 2, valid: SetattrMask.MODE | SetattrMask.SIZE | SetattrMask.MTIME | SetattrMask.MTIME_SET, mode: 0o600, uid: 0, gid: 0, size: 3,
    atimeSec: 0, atimeNsec: 0, mtimeSec: 1_000_000_000, mtimeNsec: 5,
  }, M.Rsetattr);
  const after = fs.statSync(path.join(dir, 'f'), { bigint: true });
  assert.equal(Number(after.mode) & 0o7777, 0o600);
  assert.equal(after.size, 3n);
  assert.equal(after.mtimeNs, 1_000_000_000_000_000_005n);
  // Trename and Tremove name files by fid alone: EOPNOTSUPP (Tremove still clunks).
  await rejects(c.call({ type: M.Trename, fid: 2, dfid: 0, name: 'g' }, M.Rrename), E.EOPNOTSUPP);
  await rejects(c.call({ type: M.Tremove, fid: 2 }, M.Rremove), E.EOPNOTSUPP);
  assert.equal(await c.errnoOf({ type: M.Tclunk, fid: 2 }), E.EBADF);
}));

test('open, unlink, then getattr, setattr (truncate) and read through the fid', () => withClient(async (c, dir) => {
  fs.writeFileSync(path.join(dir, 'gone'), 'still here');
  await c.mount();
  await c.walk(0, 1, ['gone']);
  await c.call({ type: M.Tlopen, fid: 1, flags: O_RDWR }, M.Rlopen);
  await c.call({ type: M.Tunlinkat, dfid: 0, name: 'gone', flags: 0 }, M.Runlinkat);
  assert.ok(!fs.existsSync(path.join(dir, 'gone')));
  const a = await c.call({ type: M.Tgetattr, fid: 1, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 }, M.Rgetattr);
  assert.deepEqual([a.size, a.nlink], [10, 0]);
  await c.call({ type: M.Tsetattr, fid: 1, valid: SetattrMask.SIZE, mode: 0, uid: 0, gid: 0, size: 5, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0 }, M.Rsetattr);
  const r = await c.call({ type: M.Tread, fid: 1, offset: 0, count: 100 }, M.Rread);
  assert.equal(new TextDecoder().decode(r.data!), 'still');
}));

test('xattrs: create and set on clunk, walk and read the value and the list, remove with size 0', () => withClient(async (c, dir) => {
  fs.writeFileSync(path.join(dir, 'f'), '');
  await c.mount();
  await c.walk(0, 1, ['f']);
  const value = new TextEncoder().encode('a value');
  await c.walk(1, 2, []);
  await c.call({ type: M.Txattrcreate, fid: 2, name: 'user.test', attrSize: value.length, flags: 0 }, M.Rxattrcreate);
  await c.call({ type: M.Twrite, fid: 2, offset: 0, count: 2, data: value.subarray(0, 2) }, M.Rwrite);
  await c.call({ type: M.Twrite, fid: 2, offset: 2, count: value.length - 2, data: value.subarray(2) }, M.Rwrite);
  try {
    await c.call({ type: M.Tclunk, fid: 2 }, M.Rclunk);
  } catch (err) {
    // tmpfs without user xattrs: nothing more to check here.
    if (err instanceof RlerrorReply && err.ecode === E.EOPNOTSUPP) return;
    throw err;
  }
  const walk = await c.call({ type: M.Txattrwalk, fid: 1, newfid: 3, name: 'user.test' }, M.Rxattrwalk);
  assert.equal(walk.size, value.length);
  assert.deepEqual((await c.call({ type: M.Tread, fid: 3, offset: 0, count: 100 }, M.Rread)).data, value);
  assert.equal((await c.call({ type: M.Tread, fid: 3, offset: 3, count: 2 }, M.Rread)).count, 2);
  await c.call({ type: M.Tclunk, fid: 3 }, M.Rclunk);
  await c.call({ type: M.Txattrwalk, fid: 1, newfid: 3, name: '' }, M.Rxattrwalk);
  assert.equal(new TextDecoder().decode((await c.call({ type: M.Tread, fid: 3, offset: 0, count: 100 }, M.Rread)).data!), 'user.test\0');
  await c.call({ type: M.Tclunk, fid: 3 }, M.Rclunk);
  await c.walk(1, 2, []);
  await c.call({ type: M.Txattrcreate, fid: 2, name: 'user.test', attrSize: 0, flags: 0 }, M.Rxattrcreate);
  await c.call({ type: M.Tclunk, fid: 2 }, M.Rclunk);
  await rejects(c.call({ type: M.Txattrwalk, fid: 1, newfid: 3, name: 'user.test' }, M.Rxattrwalk), E.ENODATA);
  // Oversized values are refused before anything is allocated.
  await c.walk(1, 4, []);
  await rejects(c.call({ type: M.Txattrcreate, fid: 4, name: 'user.big', attrSize: 2 ** 40, flags: 0 }, M.Rxattrcreate), E.E2BIG);
}));

test('locks: a write lock conflicts across fids, getlock reports it, unlock frees it', () => withClient(async (c, dir) => {
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  await c.mount();
  for (const fid of [1, 2]) {
    await c.walk(0, fid, ['f']);
    await c.call({ type: M.Tlopen, fid, flags: O_RDWR }, M.Rlopen);
  }
  const lock = { start: 0, length: 0, procId: 1, clientId: 'guest' };
  assert.equal((await c.call({ type: M.Tlock, fid: 1, lockType: 1, flags: 0, ...lock }, M.Rlock)).status, LockStatus.SUCCESS);
  assert.equal((await c.call({ type: M.Tlock, fid: 2, lockType: 1, flags: 0, ...lock }, M.Rlock)).status, LockStatus.BLOCKED);
  const held = await c.call({ type: M.Tgetlock, fid: 2, lockType: 1, ...lock }, M.Rgetlock);
  assert.equal(held.lockType, 1);
  await c.call({ type: M.Tlock, fid: 1, lockType: 2, flags: 0, ...lock }, M.Rlock);
  assert.equal((await c.call({ type: M.Tgetlock, fid: 2, lockType: 1, ...lock }, M.Rgetlock)).lockType, 2);
  assert.equal((await c.call({ type: M.Tlock, fid: 2, lockType: 0, flags: 0, ...lock }, M.Rlock)).status, LockStatus.SUCCESS);
  await rejects(c.call({ type: M.Tlock, fid: 2, lockType: 7, flags: 0, ...lock }, M.Rlock), E.EINVAL);
}));

test('a read-only share refuses every change with EROFS', () => withClient(async (c) => {
  await c.mount();
  await c.walk(0, 1, ['f']);
  await c.walk(0, 2, []);
  const changes = [
    { type: M.Tlcreate, fid: 2, name: 'n', flags: O_RDWR, mode: 0o644, gid: NOFID },
    { type: M.Tmkdir, dfid: 0, name: 'n', mode: 0o755, gid: NOFID },
    { type: M.Tsymlink, dfid: 0, name: 'n', target: 'f', gid: NOFID },
    { type: M.Tlink, dfid: 0, fid: 1, name: 'n' },
    { type: M.Trenameat, oldDfid: 0, oldName: 'f', newDfid: 0, newName: 'n' },
    { type: M.Tunlinkat, dfid: 0, name: 'f', flags: 0 },
    { type: M.Tlopen, fid: 1, flags: O_WRONLY },
    { type: M.Tsetattr, fid: 1, valid: SetattrMask.MODE, mode: 0o600, uid: 0, gid: 0, size: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0 },
    { type: M.Txattrcreate, fid: 1, name: 'user.x', attrSize: 1, flags: 0 },
  ] as const;
  for (const m of changes) assert.equal(await c.errnoOf(m), E.EROFS, `type ${m.type}`);
}, { readOnly: true, setup: (dir) => fs.writeFileSync(path.join(dir, 'f'), 'ro') }));

/** A tree whose reads wait until released, to hold requests in flight. */
function slowReads(tree: SharedTree): { tree: SharedTree; release: () => void; started: () => number } {
  let gate: () => void = () => {};
  let gatePromise = new Promise<void>((resolve) => { gate = resolve; });
  let started = 0;
  const wrapped = new Proxy(tree, {
    get(target, prop) {
      if (prop === 'read') {
        return async (...args: Parameters<SharedTree['read']>) => {
          started++;
          await gatePromise;
          return target.read(...args);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    tree: wrapped,
    release: () => {
      gate();
      gatePromise = new Promise<void>((resolve) => { gate = resolve; });
    },
    started: () => started,
  };
}

test('a slow read does not hold up a getattr; replies complete out of order; flush waits for the read', () => withTree(async ({ dir, tree }) => {
  fs.writeFileSync(path.join(dir, 'f'), 'slow data');
  const slow = slowReads(tree);
  const c = new NinePClient(slow.tree);
  try {
    await c.mount();
    await c.walk(0, 1, ['f']);
    await c.call({ type: M.Tlopen, fid: 1, flags: O_RDONLY }, M.Rlopen);
    const order: string[] = [];
    const read = c.call({ type: M.Tread, tag: 100, fid: 1, offset: 0, count: 64 }, M.Rread).then((r) => { order.push('read'); return r; });
    const getattr = await c.call({ type: M.Tgetattr, fid: 1, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 }, M.Rgetattr);
    order.push('getattr');
    assert.equal(getattr.size, 9);
    const flush = c.call({ type: M.Tflush, oldtag: 100 }, M.Rflush).then(() => order.push('flush'));
    // Clunking the fid while its read is in flight must not close the descriptor under the read.
    await c.call({ type: M.Tclunk, fid: 1 }, M.Rclunk);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(order, ['getattr']);
    assert.equal(slow.started(), 1);
    slow.release();
    const r = await read;
    await flush;
    assert.deepEqual(order, ['getattr', 'read', 'flush']);
    assert.equal(new TextDecoder().decode(r.data!), 'slow data');
    // A flush of a tag not in flight is answered at once.
    await c.call({ type: M.Tflush, oldtag: 555 }, M.Rflush);
    assert.equal(c.device.server.inFlight, 0);
  } finally {
    c.close();
  }
}));

test('a reply larger than the writable part is Rlerror EMSGSIZE; a chain without room for that is dropped', () => withClient(async (c, dir) => {
  fs.symlinkSync('t'.repeat(300), path.join(dir, 'long'));
  await c.mount();
  await c.walk(0, 1, ['long']);
  const r = await c.rpc({ type: M.Treadlink, tag: 9, fid: 1 }, { replyBytes: 100 });
  assert.deepEqual(r, { type: M.Rlerror, tag: 9, ecode: E.EMSGSIZE });
  const g = await c.rpc({ type: M.Tgetattr, tag: 10, fid: 1, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 }, { replyBytes: 159 });
  assert.deepEqual(r.type, g.type);
  const tiny = await c.send(encodeTMessage({ type: M.Tclunk, tag: 11, fid: 1 }), { replyBytes: 10 });
  assert.equal(tiny.length, 0);
  assert.equal(c.device.dropped, 1);
}));

test('malformed requests get Rlerror with their tag and leave the session working', () => withClient(async (c) => {
  await c.mount();
  const bad = encodeTMessage({ type: M.Twalk, tag: 42, fid: 0, newfid: 1, names: ['ok'] });
  bad[bad.length - 1] = 0x2f; // 'ok' -> 'o/'
  const reply = await c.send(bad);
  assert.deepEqual([...reply.subarray(4, 7)], [M.Rlerror, 42, 0]);
  assert.equal(new DataView(reply.buffer, reply.byteOffset).getUint32(7, true), E.EINVAL);
  const unknown = await c.send(Uint8Array.of(7, 0, 0, 0, 112, 5, 0));
  assert.equal(new DataView(unknown.buffer, unknown.byteOffset).getUint32(7, true), E.EOPNOTSUPP);
  assert.deepEqual(await c.walk(0, 1, []), []);
}));
