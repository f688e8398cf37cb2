import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../kvm/vm.js';
import type { DeviceManager } from './device-manager.js';
import { intxIrqForSlot } from '../devices/pci/layout.js';
import { PciDevices } from './pci-devices.js';

/** Records KVM_IRQ_LINE levels per IRQ; nothing else of the VM is touched before a device is added. */
function fakeVm(): { vm: Vm; lines: Map<number, boolean> } {
  const lines = new Map<number, boolean>();
  const vm = { setIrqLine: (irq: number, level: boolean) => lines.set(irq, level) } as unknown as Vm;
  return { vm, lines };
}
const fakeDevices = { addPio() {}, addMmio() {} } as unknown as DeviceManager;

test('functions that share an INTx IRQ are ORed: the line drops only when none asserts (issue 9, defect 7)', () => {
  const { vm, lines } = fakeVm();
  const pci = new PciDevices(vm, fakeDevices, () => {});
  // Slots 1 and 4 share an IRQ with the rotation in layout.ts.
  assert.equal(intxIrqForSlot(1), intxIrqForSlot(4));
  const irq = intxIrqForSlot(1);
  const a = pci.intxFor(1);
  const b = pci.intxFor(4);
  assert.equal(a.irq, irq);
  a.setLevel(true);
  b.setLevel(true);
  a.setLevel(false);
  assert.equal(lines.get(irq), true, 'B still asserts the line');
  b.setLevel(false);
  assert.equal(lines.get(irq), false);
});
