/**
 * Helpers for the shared-tree tests: a temporary exported directory, and
 * guest RAM with host addresses to build iovecs over (as the 9p server
 * does for a request's buffers).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsError } from '../devices/fs.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { HostAddressMap } from '../memory/host-address-map.js';
import { IovecList } from '../memory/iovec-list.js';
import { HostTree } from '../backends/fs/tree.js';

export interface TreeFixture {
  dir: string;
  tree: HostTree;
  memory: GuestMemory;
  map: HostAddressMap;
  /** An IovecList over guest RAM [addr, addr + len) split into `pieces` (gaps between them). */
  iov(addr: number, len: number, pieces?: number): IovecList;
}

export const RAM_BYTES = 16 << 20;

export async function withTree(fn: (t: TreeFixture) => Promise<void> | void, options: { readOnly?: boolean; maxHandles?: number; setup?: (dir: string) => void } = {}): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-tree-'));
  options.setup?.(dir);
  const tree = HostTree.open({ hostPath: dir, readOnly: options.readOnly ?? false, maxHandles: options.maxHandles });
  const memory = GuestMemory.allocate([{ guestBase: 0, size: RAM_BYTES }]);
  const map = HostAddressMap.of(memory)!;
  const iov = (addr: number, len: number, pieces = 1): IovecList => {
    const list = new IovecList();
    const size = Math.ceil(len / pieces);
    let a = addr;
    for (let left = len; left > 0; left -= size) {
      const n = Math.min(size, left);
      if (!map.append(list, a, n)) throw new Error('iovec list full');
      a += n + 64; // a gap: separate iovecs
    }
    return list;
  };
  try {
    await fn({ dir, tree, memory, map, iov });
  } finally {
    await tree.dispose();
    memory.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The errno name a call fails with ("ok" when it does not), sync or async. */
export function codeOf(call: () => unknown): string {
  try {
    call();
    return 'ok';
  } catch (err) {
    if (err instanceof FsError) return err.code;
    throw err;
  }
}

export async function asyncCodeOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    if (err instanceof FsError) return err.code;
    throw err;
  }
}
