/** A vCPU's architectural state as plain JSON, for `tkvm debug`. */
import type { Vcpu } from '../kvm/vcpu.js';
import { REG_NAMES, SEGMENT_NAMES, type Segment } from '../kvm/structs.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { SegmentInfo, VcpuDebugInfo } from './controller.js';
import { codeAtRip, formatBytes } from './fault-report.js';

import { hex } from '../util/hex.js';

function segmentInfo(s: Segment): SegmentInfo {
  return { selector: s.selector, base: hex(s.base), limit: s.limit, type: s.type, dpl: s.dpl, present: s.present === 1, long: s.l === 1, db: s.db === 1 };
}

/** Reads the vCPU's registers; the vCPU must not be inside KVM_RUN. */
export function vcpuDebugInfo(vcpu: Vcpu, mem: GuestMemory): VcpuDebugInfo {
  const regs = vcpu.getRegs();
  const sregs = vcpu.getSregs();
  const code = codeAtRip(vcpu, mem);
  return {
    id: vcpu.id,
    regs: Object.fromEntries(REG_NAMES.map((n) => [n, hex(regs[n])])),
    segments: Object.fromEntries(SEGMENT_NAMES.map((n) => [n, segmentInfo(sregs[n])])),
    control: {
      cr0: hex(sregs.cr0), cr2: hex(sregs.cr2), cr3: hex(sregs.cr3), cr4: hex(sregs.cr4), cr8: hex(sregs.cr8),
      efer: hex(sregs.efer), apic_base: hex(sregs.apicBase),
      gdt: `${hex(sregs.gdt.base)}/${sregs.gdt.limit}`, idt: `${hex(sregs.idt.base)}/${sregs.idt.limit}`,
    },
    codeAtRip: code ? formatBytes(code) : null,
  };
}
