/**
 * Local APIC LINT pins as a PC wires them (Intel MP spec 1.4, 5.1):
 * LINT0 in ExtINT mode, so the 8259 PIC's interrupts reach the BSP before
 * the OS switches to the IOAPIC, and LINT1 delivering NMIs.
 */
import type { Vcpu } from '../kvm/vcpu.js';

const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const DELIVERY_MODE_SHIFT = 8;
const DELIVERY_MODE_MASK = 0x700;
const DELIVERY_EXTINT = 0x7;
const DELIVERY_NMI = 0x4;

function setDeliveryMode(reg: number, mode: number): number {
  return (reg & ~DELIVERY_MODE_MASK) | (mode << DELIVERY_MODE_SHIFT);
}

export function configureLapicLints(vcpu: Vcpu): void {
  const state = vcpu.getLapic();
  const v = new DataView(state.buffer, state.byteOffset, state.byteLength);
  v.setUint32(APIC_LVT_LINT0, setDeliveryMode(v.getUint32(APIC_LVT_LINT0, true), DELIVERY_EXTINT) >>> 0, true);
  v.setUint32(APIC_LVT_LINT1, setDeliveryMode(v.getUint32(APIC_LVT_LINT1, true), DELIVERY_NMI) >>> 0, true);
  vcpu.setLapic(state);
}
