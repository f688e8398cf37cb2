/**
 * Random operation sequences run through the tree on one temporary
 * directory and through Node's fs on another: every step must succeed or
 * fail alike (same errno name), and the two directories must end up the
 * same (types, contents, modes, link counts, symlink targets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { FsError, S_IFLNK, S_IFMT, SetAttr, SetAttrMask } from '../../devices/fs.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { HostAddressMap } from '../../memory/host-address-map.js';
import { IovecList } from '../../memory/iovec-list.js';
import { FileAttr } from '../../devices/fs.js';
import { HostTree } from './tree.js';

const O_WRONLY = 1;
const O_RDWR = 2;
const O_EXCL = 0o200;

type Where = { dir: 'root' | 'sub'; name: string };
type Op =
  | { kind: 'create'; at: Where; mode: number; data: Uint8Array }
  | { kind: 'mkdir'; at: Where; mode: number }
  | { kind: 'unlink'; at: Where; isDir: boolean }
  | { kind: 'rename'; from: Where; to: Where }
  | { kind: 'link'; from: Where; to: Where }
  | { kind: 'symlink'; at: Where; target: string }
  | { kind: 'write'; at: Where; offset: number; data: Uint8Array }
  | { kind: 'truncate'; at: Where; size: number }
  | { kind: 'chmod'; at: Where; mode: number };

const where: fc.Arbitrary<Where> = fc.record({ dir: fc.constantFrom('root' as const, 'sub' as const), name: fc.constantFrom('a', 'b', 'c') });
const data = fc.uint8Array({ maxLength: 300 });
const mode = fc.integer({ min: 0o600, max: 0o777 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), at: where, mode, data }),
  fc.record({ kind: fc.constant('mkdir' as const), at: where, mode: fc.integer({ min: 0o700, max: 0o777 }) }),
  fc.record({ kind: fc.constant('unlink' as const), at: where, isDir: fc.boolean() }),
  fc.record({ kind: fc.constant('rename' as const), from: where, to: where }),
  fc.record({ kind: fc.constant('link' as const), from: where, to: where }),
  fc.record({ kind: fc.constant('symlink' as const), at: where, target: fc.constantFrom('a', '../b', '/etc', 'sub/c') }),
  fc.record({ kind: fc.constant('write' as const), at: where, offset: fc.integer({ min: 0, max: 500 }), data }),
  fc.record({ kind: fc.constant('truncate' as const), at: where, size: fc.integer({ min: 0, max: 400 }) }),
  fc.record({ kind: fc.constant('chmod' as const), at: where, mode }),
);

function codeOf(err: unknown): string {
  if (err instanceof FsError) return err.code;
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string') return (err as NodeJS.ErrnoException).code!;
  throw err;
}

class TreeSide {
  readonly root: number;
  readonly sub: number;
  constructor(readonly tree: HostTree, readonly memory: GuestMemory, readonly map: HostAddressMap) {
    this.root = tree.root();
    this.sub = tree.walk(this.root, 'sub');
  }
  #dir(w: Where): number {
    return w.dir === 'root' ? this.root : this.sub;
  }
  #iov(bytes: Uint8Array): IovecList {
    this.memory.write(0x1000, bytes);
    const list = new IovecList();
    this.map.append(list, 0x1000, bytes.length);
    return list;
  }
  /** Runs a call on a handle walked to `w`, closing what it opened. */
  async #on<T>(w: Where, call: (h: number) => Promise<T> | T): Promise<T> {
    const h = this.tree.walk(this.#dir(w), w.name);
    try {
      return await call(h);
    } finally {
      this.tree.close(h);
    }
  }
  async run(o: Op): Promise<void> {
    const t = this.tree;
    switch (o.kind) {
      case 'create': {
        const f = t.create(this.#dir(o.at), o.at.name, O_RDWR | O_EXCL, o.mode, -1, -1);
        try {
          await t.write(f, 0, this.#iov(o.data));
        } finally {
          t.close(f);
        }
        return;
      }
      case 'mkdir': t.close(t.mkdir(this.#dir(o.at), o.at.name, o.mode, -1, -1)); return;
      case 'unlink': t.unlink(this.#dir(o.at), o.at.name, o.isDir); return;
      case 'rename': t.rename(this.#dir(o.from), o.from.name, this.#dir(o.to), o.to.name); return;
      case 'link': await this.#on(o.from, (h) => t.link(h, this.#dir(o.to), o.to.name)); return;
      case 'symlink': t.close(t.symlink(this.#dir(o.at), o.at.name, o.target, -1, -1)); return;
      case 'write': await this.#on(o.at, async (h) => {
        const f = t.open(h, O_WRONLY);
        try {
          await t.write(f, o.offset, this.#iov(o.data));
        } finally {
          t.close(f);
        }
      }); return;
      case 'truncate':
      case 'chmod': await this.#on(o.at, (h) => {
        const change = new SetAttr();
        change.valid = o.kind === 'truncate' ? SetAttrMask.SIZE : SetAttrMask.MODE;
        change.size = o.kind === 'truncate' ? o.size : 0;
        change.mode = o.kind === 'chmod' ? o.mode : 0;
        t.setattr(h, change);
      }); return;
    }
  }
}

/** The same operations with Node's fs, with the tree's rules: symlinks are never followed. */
class NodeSide {
  constructor(readonly dir: string) {}
  #p(w: Where): string {
    return path.join(this.dir, w.dir === 'root' ? '' : 'sub', w.name);
  }
  #notLink(p: string, code: string): void {
    if (fs.lstatSync(p).isSymbolicLink()) throw Object.assign(new Error(code), { code });
  }
  run(o: Op): void {
    switch (o.kind) {
      case 'create': {
        const fd = fs.openSync(this.#p(o.at), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, o.mode);
        try {
          fs.fchmodSync(fd, o.mode);
          fs.writeSync(fd, o.data, 0, o.data.length, 0);
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'mkdir': fs.mkdirSync(this.#p(o.at)); fs.chmodSync(this.#p(o.at), o.mode); return;
      case 'unlink': if (o.isDir) fs.rmdirSync(this.#p(o.at)); else fs.unlinkSync(this.#p(o.at)); return;
      case 'rename': fs.renameSync(this.#p(o.from), this.#p(o.to)); return;
      case 'link': fs.lstatSync(this.#p(o.from)); fs.linkSync(this.#p(o.from), this.#p(o.to)); return;
      case 'symlink': fs.symlinkSync(o.target, this.#p(o.at)); return;
      case 'write': {
        this.#notLink(this.#p(o.at), 'ELOOP');
        const fd = fs.openSync(this.#p(o.at), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
        try {
          fs.writeSync(fd, o.data, 0, o.data.length, o.offset);
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'truncate': this.#notLink(this.#p(o.at), 'EOPNOTSUPP'); fs.truncateSync(this.#p(o.at), o.size); return;
      case 'chmod': this.#notLink(this.#p(o.at), 'EOPNOTSUPP'); fs.chmodSync(this.#p(o.at), o.mode); return;
    }
  }
}

/** Types, contents, modes, link counts and symlink targets under `dir`, by relative path. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = path.join(dir, rel, name);
      const st = fs.lstatSync(p);
      const key = path.join(rel, name);
      if (st.isSymbolicLink()) out[key] = `link ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[key] = `dir ${(st.mode & 0o7777).toString(8)}`;
        visit(key);
      } else out[key] = `file ${(st.mode & 0o7777).toString(8)} n${st.nlink} ${fs.readFileSync(p).toString('hex')}`;
    }
  };
  visit('');
  return out;
}

test('random operation sequences: the tree and Node\'s fs agree step by step and end alike', { timeout: 120_000 }, async () => {
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  const map = HostAddressMap.of(memory)!;
  const oldUmask = process.umask(0);
  try {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      const treeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-model-tree-'));
      const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-model-node-'));
      fs.mkdirSync(path.join(treeDir, 'sub'));
      fs.mkdirSync(path.join(nodeDir, 'sub'));
      const tree = HostTree.open({ hostPath: treeDir, readOnly: false });
      try {
        const side = new TreeSide(tree, memory, map);
        const ref = new NodeSide(nodeDir);
        for (const [i, o] of ops.entries()) {
          let got = 'ok';
          let want = 'ok';
          try {
            await side.run(o);
          } catch (err) {
            got = codeOf(err);
          }
          try {
            ref.run(o);
          } catch (err) {
            want = codeOf(err);
          }
          assert.equal(got, want, `step ${i}: ${JSON.stringify(o)}`);
        }
        assert.deepEqual(snapshot(treeDir), snapshot(nodeDir));
        // The tree's own view of a file matches the host's.
        for (const name of ['a', 'b', 'c']) {
          const st = fs.lstatSync(path.join(treeDir, name), { throwIfNoEntry: false });
          if (st === undefined) continue;
          const h = tree.walk(side.root, name);
          const a = new FileAttr();
          tree.getattr(h, a);
          assert.equal(a.mode, st.mode);
          assert.equal(a.nlink, st.nlink);
          if ((a.mode & S_IFMT) !== S_IFLNK) assert.equal(a.size, st.size);
          tree.close(h);
        }
        assert.equal(tree.openHandles, 2, 'every handle the steps opened was closed');
      } finally {
        await tree.dispose();
        fs.rmSync(treeDir, { recursive: true, force: true });
        fs.rmSync(nodeDir, { recursive: true, force: true });
      }
    }), { numRuns: 60 });
  } finally {
    process.umask(oldUmask);
    memory.close();
  }
});
