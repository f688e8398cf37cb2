/**
 * Describes where a vCPU stopped: RIP, the code bytes there and the mode,
 * for triple faults, emulation failures and `tkvm debug`.
 */
import type { Vcpu } from '../kvm/vcpu.js';
import type { GuestMemory } from '../memory/guest-memory.js';

import { hex } from '../util/hex.js';

/** Linear address of RIP: CS base is ignored in 64-bit mode (SDM vol. 3, 3.4.4). */
export function ripLinear(vcpu: Vcpu): bigint {
  const sregs = vcpu.getSregs();
  const rip = vcpu.getRegs().rip;
  return sregs.cs.l ? rip : BigInt.asUintN(64, sregs.cs.base + rip);
}

/** Up to `len` bytes at RIP, or null when RIP does not map to guest RAM. */
export function codeAtRip(vcpu: Vcpu, mem: GuestMemory, len = 16): Uint8Array | null {
  try {
    const t = vcpu.translate(ripLinear(vcpu));
    if (!t.valid) return null;
    const phys = Number(t.physical);
    for (let n = len; n > 0; n--) if (mem.isValidRange(phys, n)) return mem.read(phys, n);
    return null;
  } catch {
    return null;
  }
}

export function formatBytes(bytes: Uint8Array | null): string {
  return bytes ? Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ') : '(not in guest RAM)';
}

/** One line: "vCPU 0: RIP 0x... (CS 0x10, 64-bit, CR3 0x9000), code: 0f 0b ..." */
export function describeVcpuState(vcpu: Vcpu, mem: GuestMemory, instructionBytes?: Uint8Array | null): string {
  try {
    const regs = vcpu.getRegs();
    const sregs = vcpu.getSregs();
    const mode = sregs.cs.l ? '64-bit' : (sregs.cr0 & 1n) ? (sregs.cs.db ? '32-bit' : '16-bit protected') : 'real mode';
    const bytes = instructionBytes ?? codeAtRip(vcpu, mem);
    return `vCPU ${vcpu.id}: RIP ${hex(regs.rip)} (CS ${hex(sregs.cs.selector, 2)}, ${mode}, CR0 ${hex(sregs.cr0)}, CR3 ${hex(sregs.cr3)}, RSP ${hex(regs.rsp)}), code: ${formatBytes(bytes)}`;
  } catch (err) {
    return `vCPU ${vcpu.id}: registers unavailable (${(err as Error).message})`;
  }
}
