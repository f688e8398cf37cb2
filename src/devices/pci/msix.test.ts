import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciConfigSpace } from './config-space.js';
import { KvmMsiRouting } from './kvm-routing.js';
import { MSIX_CONTROL_ENABLE, MSIX_CONTROL_FUNCTION_MASK, MsixController, type MsiRouting } from './msix.js';
import type { GsiRoute } from '../../kvm/vm.js';

/** Records what the controller asks of the interrupt controller, and which irqfds are bound. */
class FakeRouting implements MsiRouting {
  readonly staged = new Map<number, [number, number, number]>();
  committed = new Map<number, [number, number, number]>();
  readonly bound = new Map<number, number>();
  log: string[] = [];
  setMsiRoute(gsi: number, lo: number, hi: number, data: number): void { this.staged.set(gsi, [lo, hi, data]); this.log.push(`route ${gsi}`); }
  removeRoute(gsi: number): void { this.staged.delete(gsi); }
  commit(): void { this.committed = new Map(this.staged); this.log.push('commit'); }
  bindIrqfd(gsi: number, fd: number): void { assert.ok(!this.bound.has(gsi)); this.bound.set(gsi, fd); this.log.push(`bind ${gsi}`); }
  unbindIrqfd(gsi: number, fd: number): void { assert.equal(this.bound.get(gsi), fd); this.bound.delete(gsi); this.log.push(`unbind ${gsi}`); }
}

function setup(vectors = 3) {
  const routing = new FakeRouting();
  const writes: number[] = [];
  const msix = new MsixController({
    vectors, gsis: Array.from({ length: vectors }, (_, i) => 24 + i), eventFds: Array.from({ length: vectors }, (_, i) => 100 + i), routing,
    tableBar: 0, tableOffset: 0x4000, pbaBar: 0, pbaOffset: 0x5000, writeEventFd: (fd) => writes.push(fd),
  });
  const config = new PciConfigSpace({ vendorId: 1, deviceId: 2, classCode: 0 });
  const cap = msix.attach(config);
  const control = (value: number): void => {
    const d = Uint8Array.of(value & 0xff, value >> 8);
    config.write(cap + 2, d);
    msix.configWritten(cap + 2, 2);
  };
  const writeEntry = (v: number, field: number, value: number): void => {
    msix.writeTable(16 * v + 4 * field, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24));
  };
  const pba = (): number => {
    const d = new Uint8Array(8);
    msix.readPba(0, d);
    return d[0]!;
  };
  return { routing, writes, msix, config, cap, control, writeEntry, pba };
}

test('capability advertises table size, BIR and offsets; only enable and mask are writable', () => {
  const { config, cap, msix } = setup(3);
  assert.equal(config.readU8(cap), 0x11);
  assert.equal(config.readU16(cap + 2), 2, 'table size is N - 1');
  assert.equal(config.readU32(cap + 4), 0x4000);
  assert.equal(config.readU32(cap + 8), 0x5000);
  config.write(cap + 2, Uint8Array.of(0xff, 0xff));
  assert.equal(config.readU16(cap + 2), 0xc002);
  assert.equal(msix.tableBytes, 48);
  assert.equal(msix.pbaBytes, 8);
});

test('vectors start masked; unmasking an enabled vector routes it and binds its irqfd', () => {
  const { routing, writes, msix, control, writeEntry } = setup();
  assert.equal(msix.entry(0).masked, true);
  assert.equal(msix.signal(0), 'disabled', 'MSI-X off: the caller falls back to INTx');
  control(MSIX_CONTROL_ENABLE);
  assert.equal(routing.bound.size, 0);
  writeEntry(0, 0, 0xfee0_1003);
  writeEntry(0, 2, 0x41);
  assert.equal(msix.entry(0).addressLo, 0xfee0_1000, 'address bits 1:0 read 0');
  writeEntry(0, 3, 0xffff_ffff); // reserved bits read 0
  assert.equal(msix.entry(0).masked, true);
  const vectorControl = new Uint8Array(4);
  msix.readTable(12, vectorControl);
  assert.deepEqual([...vectorControl], [1, 0, 0, 0]);
  assert.equal(routing.bound.size, 0);
  writeEntry(0, 3, 0);
  assert.deepEqual(routing.committed.get(24), [0xfee0_1000, 0, 0x41]);
  assert.equal(routing.bound.get(24), 100);
  assert.deepEqual(routing.log, ['route 24', 'commit', 'bind 24']);
  assert.equal(msix.signal(0), 'sent');
  assert.deepEqual(writes, [100]);
  assert.equal(msix.signal(7), 'no-vector');
});

test('a masked vector records the interrupt in the PBA and delivers it on unmask', () => {
  const { routing, writes, msix, control, writeEntry, pba } = setup();
  control(MSIX_CONTROL_ENABLE);
  writeEntry(1, 0, 0xfee0_0000);
  writeEntry(1, 2, 0x42);
  assert.equal(msix.signal(1), 'pending');
  assert.equal(pba(), 0b010);
  assert.equal(writes.length, 0);
  writeEntry(1, 3, 0);
  assert.deepEqual(writes, [101], 'pending interrupt delivered at unmask');
  assert.equal(pba(), 0);
  // Mask again: irqfd unbound, interrupts pend.
  writeEntry(1, 3, 1);
  assert.equal(routing.bound.has(25), false);
  msix.signal(1);
  msix.signal(1);
  assert.equal(pba(), 0b010);
  writeEntry(1, 3, 0);
  assert.deepEqual(writes, [101, 101], 'several pending signals are one interrupt');
});

test('the function mask holds every vector; clearing it delivers pending ones', () => {
  const { routing, writes, msix, control, writeEntry, pba } = setup();
  control(MSIX_CONTROL_ENABLE);
  for (const v of [0, 2]) {
    writeEntry(v, 0, 0xfee0_0000);
    writeEntry(v, 2, 0x40 + v);
    writeEntry(v, 3, 0);
  }
  assert.deepEqual([...routing.bound.keys()].sort(), [24, 26]);
  control(MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);
  assert.equal(routing.bound.size, 0);
  assert.equal(msix.functionMasked, true);
  assert.equal(msix.signal(2), 'pending');
  assert.equal(pba(), 0b100);
  control(MSIX_CONTROL_ENABLE);
  assert.deepEqual(writes, [102]);
  assert.deepEqual([...routing.bound.keys()].sort(), [24, 26]);
  // Disabling MSI-X unbinds everything.
  control(0);
  assert.equal(routing.bound.size, 0);
  assert.equal(msix.signal(0), 'disabled');
});

test('re-programming an unmasked vector updates its route without rebinding', () => {
  const { routing, msix, control, writeEntry } = setup();
  control(MSIX_CONTROL_ENABLE);
  writeEntry(0, 0, 0xfee0_0000);
  writeEntry(0, 3, 0);
  routing.log = [];
  writeEntry(0, 2, 0x55);
  assert.deepEqual(routing.committed.get(24), [0xfee0_0000, 0, 0x55]);
  assert.deepEqual(routing.log, ['route 24', 'commit']);
  routing.log = [];
  msix.writeTable(0, Uint8Array.of(0, 0, 0xe0, 0xfe)); // same address again
  assert.deepEqual(routing.log, [], 'no commit when nothing changed');
  const d = new Uint8Array(16);
  msix.readTable(0, d);
  assert.deepEqual([...d], [0, 0, 0xe0, 0xfe, 0, 0, 0, 0, 0x55, 0, 0, 0, 0, 0, 0, 0]);
  msix.writeTable(1000, Uint8Array.of(1)); // past the table: ignored
  msix.readTable(1000, d.subarray(0, 4));
  assert.deepEqual([...d.subarray(0, 4)], [0, 0, 0, 0]);
});

test('KvmMsiRouting keeps the irqchip routes and replaces the table on commit', () => {
  const calls: GsiRoute[][] = [];
  const irqfds: Array<[number, number, boolean]> = [];
  const base: GsiRoute[] = [{ gsi: 4, type: 'irqchip', irqchip: 2, pin: 4 }];
  const r = new KvmMsiRouting({ setGsiRouting: (routes) => calls.push([...routes]), irqfd: (fd, gsi, de) => irqfds.push([fd, gsi, de ?? false]) }, base);
  assert.deepEqual(r.allocateGsis(2), [24, 25]);
  assert.deepEqual(r.allocateGsis(1), [26]);
  r.commit();
  assert.equal(calls.length, 0, 'nothing to commit');
  r.setMsiRoute(25, 0xfee0_0000, 0, 0x41);
  r.setMsiRoute(24, 0xfee0_0000, 0, 0x40);
  r.commit();
  assert.deepEqual(calls[0]!.map((x) => x.gsi), [4, 24, 25]);
  r.removeRoute(24);
  r.commit();
  assert.deepEqual(calls[1]!.map((x) => x.gsi), [4, 25]);
  r.bindIrqfd(25, 9);
  r.unbindIrqfd(25, 9);
  assert.deepEqual(irqfds, [[9, 25, false], [9, 25, true]]);
});
