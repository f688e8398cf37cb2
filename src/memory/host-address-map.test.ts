import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from './guest-memory.js';
import { HostAddressMap } from './host-address-map.js';
import { IovecList } from './iovec-list.js';

test('translates guest ranges to host addresses, split at region boundaries', () => {
  // Two regions adjacent in guest-physical space, separate host mappings.
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 0x2000 }, { guestBase: 0x2000, size: 0x1000 }, { guestBase: 0x10000, size: 0x1000 }]);
  try {
    const map = HostAddressMap.of(memory)!;
    assert.ok(map);
    const host = memory.regions().map((r) => Number(r.hostAddr));
    const iov = new IovecList();
    assert.ok(map.append(iov, 0x1f00, 0x200));
    assert.ok(map.append(iov, 0x10ff0, 0x10));
    assert.deepEqual([0, 1, 2].map((i) => [iov.baseAt(i), iov.lengthAt(i)]), [[host[0]! + 0x1f00, 0x100], [host[1]!, 0x100], [host[2]! + 0xff0, 0x10]]);
    // Each entry is the same memory as GuestMemory's own view of those bytes.
    assert.equal(iov.baseAt(1), Number(memory.hostRanges(0x2000, 1)[0]!.hostAddr));

    const before = iov.length;
    for (const [addr, len] of [[0x2f00, 0x200], [0x3000, 1], [0xffff, 2], [0x11000, 0], [-1, 1], [0.5, 1], [0x10000, 0x1001]]) {
      const mark = iov.length;
      if (!map.append(iov, addr!, len!)) iov.truncate(mark);
      else assert.equal(len, 0, `0x${addr!.toString(16)}+${len} accepted`);
    }
    assert.equal(iov.length, before);
  } finally {
    memory.close();
  }
});

test('buffer-backed test memory has no host address map', () => {
  assert.equal(HostAddressMap.of(GuestMemory.fromBuffers([{ guestBase: 0, size: 4096 }])), null);
});

test('a full iovec list refuses the range', () => {
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 0x1000 }, { guestBase: 0x1000, size: 0x1000 }]);
  try {
    const map = HostAddressMap.of(memory)!;
    const iov = new IovecList(1);
    assert.equal(map.append(iov, 0xff0, 0x20), false);
  } finally {
    memory.close();
  }
});
