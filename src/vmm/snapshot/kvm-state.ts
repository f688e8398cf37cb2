/**
 * The KVM side of a snapshot (docs/snapshot.md, "vCPU and VM sections"):
 * each vCPU's state structs and MSRs, the in-kernel irqchip (both PICs and
 * the IOAPIC), the PIT and the kvmclock, as raw kernel structs.
 *
 * Save order per vCPU follows api.rst's dependencies: MP state, registers,
 * special registers, XSAVE (or FPU), XCRs, debug registers, LAPIC, MSRs,
 * events. Restore sets them in the same order, so the LAPIC comes after
 * the APIC base (sregs) and TSC-deadline after the TSC, and pending events
 * last (api.rst 4.32: KVM_SET_VCPU_EVENTS after the rest).
 */
import type { Kvm } from '../../kvm/kvm.js';
import { Cap } from '../../kvm/ioctls.js';
import type { Vcpu, VcpuStateKind } from '../../kvm/vcpu.js';
import { VCPU_STATE_KINDS } from '../../kvm/vcpu.js';
import { CLOCK_DATA_SIZE, IRQCHIP_IOAPIC, IRQCHIP_PIC_MASTER, IRQCHIP_PIC_SLAVE, IRQCHIP_STATE_SIZE, PIT2_STATE_SIZE, type Vm } from '../../kvm/vm.js';
import { decodeMsrs, encodeMsrs, MSR_ENTRY_SIZE, type MsrEntry } from '../../kvm/structs.js';
import * as log from '../../util/log.js';
import { malformed, type Section, SnapshotError } from './format.js';

/** What this host's KVM can save and load; a snapshot records its own and is checked against the restoring host's. */
export interface KvmCapabilities {
  /** Bytes of struct kvm_xsave (KVM_CAP_XSAVE2, else 4096), or 0 without KVM_CAP_XSAVE (then FPU). */
  xsaveBytes: number;
  xcrs: boolean;
  debugregs: boolean;
  tscControl: boolean;
}

export function kvmCapabilities(kvm: Kvm, vm: Vm): KvmCapabilities {
  const xsave = kvm.checkExtension('XSAVE') > 0;
  const xsave2 = xsave ? vm.checkExtension(Cap.XSAVE2) : 0;
  return {
    xsaveBytes: xsave ? Math.max(4096, xsave2) : 0,
    xcrs: kvm.checkExtension('XCRS') > 0,
    debugregs: kvm.checkExtension('DEBUGREGS') > 0,
    tscControl: kvm.checkExtension('TSC_CONTROL') > 0,
  };
}

/** Refuses to restore what this host cannot load (one line naming what is missing). */
export function checkCapabilities(saved: KvmCapabilities, host: KvmCapabilities): void {
  const missing = (what: string): never => {
    throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the snapshot needs ${what}, which this host's KVM lacks`);
  };
  if (saved.xsaveBytes > 0 && host.xsaveBytes === 0) missing('KVM_CAP_XSAVE');
  if (saved.xsaveBytes > host.xsaveBytes) missing(`an XSAVE area of ${saved.xsaveBytes} bytes (it has ${host.xsaveBytes})`);
  if (saved.xcrs && !host.xcrs) missing('KVM_CAP_XCRS');
  if (saved.debugregs && !host.debugregs) missing('KVM_CAP_DEBUGREGS');
}

/** The state kinds a snapshot taken with `caps` holds, in save and restore order (MSRs go between lapic and events). */
function kindsFor(caps: KvmCapabilities): { before: VcpuStateKind[]; after: VcpuStateKind[] } {
  const before: VcpuStateKind[] = ['mpstate', 'regs', 'sregs', caps.xsaveBytes > 0 ? 'xsave' : 'fpu'];
  if (caps.xcrs) before.push('xcrs');
  if (caps.debugregs) before.push('debugregs');
  before.push('lapic');
  return { before, after: ['events'] };
}

const sizeOf = (kind: VcpuStateKind, caps: KvmCapabilities): number => (kind === 'xsave' ? caps.xsaveBytes : VCPU_STATE_KINDS[kind].size);

/** Sections `vcpuN.KIND` and `vcpuN.msrs` for one vCPU, which must be out of KVM_RUN. */
export function saveVcpu(vcpu: Vcpu, caps: KvmCapabilities, msrIndices: readonly number[]): Section[] {
  const { before, after } = kindsFor(caps);
  const prefix = `vcpu${vcpu.id}`;
  const sections: Section[] = before.map((kind) => ({ name: `${prefix}.${kind}`, payload: vcpu.getRawState(kind, sizeOf(kind, caps)) }));
  sections.push({ name: `${prefix}.msrs`, payload: encodeMsrs(vcpu.readMsrs(msrIndices)) });
  for (const kind of after) sections.push({ name: `${prefix}.${kind}`, payload: vcpu.getRawState(kind) });
  return sections;
}

/** One vCPU's sections, checked for presence and exact sizes before anything is loaded. */
export interface VcpuSavedState {
  id: number;
  structs: Array<{ kind: VcpuStateKind; bytes: Uint8Array }>;
  msrs: MsrEntry[];
  events: Uint8Array;
}

/** The MSRs a snapshot may hold per vCPU (KVM lists a few hundred at most). */
const MAX_MSRS = 4096;

export function readVcpuSections(sections: ReadonlyMap<string, Uint8Array>, id: number, caps: KvmCapabilities): VcpuSavedState {
  const { before } = kindsFor(caps);
  const prefix = `vcpu${id}`;
  const structs = before.map((kind) => ({ kind, bytes: exact(sections, `${prefix}.${kind}`, sizeOf(kind, caps)) }));
  const msrBytes = need(sections, `${prefix}.msrs`);
  if (msrBytes.length < 8) throw malformed(`${prefix}.msrs is too short`);
  const count = new DataView(msrBytes.buffer, msrBytes.byteOffset, msrBytes.byteLength).getUint32(0, true);
  if (count > MAX_MSRS || msrBytes.length !== 8 + count * MSR_ENTRY_SIZE) throw malformed(`${prefix}.msrs does not hold ${count} MSRs`);
  const mp = new DataView(structs[0]!.bytes.buffer, structs[0]!.bytes.byteOffset, 4).getUint32(0, true);
  if (mp > 10) throw malformed(`${prefix}.mpstate ${mp} is not an MP state`);
  return { id, structs, msrs: decodeMsrs(msrBytes.slice(), count), events: exact(sections, `${prefix}.events`, VCPU_STATE_KINDS.events.size) };
}

/**
 * Loads one vCPU's state. MSRs KVM refuses are left out and named in one
 * warning (a different host CPU may lack some); everything else must load.
 */
export function restoreVcpu(vcpu: Vcpu, state: VcpuSavedState): void {
  for (const { kind, bytes } of state.structs) vcpu.setRawState(kind, bytes.slice());
  const refused: number[] = [];
  let rest = state.msrs;
  while (rest.length > 0) {
    const taken = vcpu.trySetMsrs(rest);
    if (taken >= rest.length) break;
    refused.push(rest[taken]!.index);
    rest = rest.slice(taken + 1);
  }
  if (refused.length > 0) log.warn(`vCPU ${vcpu.id}: KVM refused ${refused.length} saved MSR(s): ${refused.map((i) => `0x${i.toString(16)}`).join(', ')}`);
  vcpu.setRawState('events', state.events.slice());
}

const CHIPS = [['pic-master', IRQCHIP_PIC_MASTER], ['pic-slave', IRQCHIP_PIC_SLAVE], ['ioapic', IRQCHIP_IOAPIC]] as const;

/** Sections `vm.irqchip.*`, `vm.pit2` and `vm.clock`. */
export function saveVm(vm: Vm): Section[] {
  return [
    ...CHIPS.map(([name, id]) => ({ name: `vm.irqchip.${name}`, payload: vm.getIrqchip(id) })),
    { name: 'vm.pit2', payload: vm.getPit2() },
    { name: 'vm.clock', payload: vm.getClock() },
  ];
}

export interface VmSavedState {
  irqchips: Uint8Array[];
  pit2: Uint8Array;
  /** The kvmclock in nanoseconds when the snapshot was taken. */
  clock: bigint;
}

export function readVmSections(sections: ReadonlyMap<string, Uint8Array>): VmSavedState {
  const irqchips = CHIPS.map(([name, id]) => {
    const bytes = exact(sections, `vm.irqchip.${name}`, IRQCHIP_STATE_SIZE);
    if (new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== id) throw malformed(`vm.irqchip.${name} is the state of another chip`);
    return bytes;
  });
  const clock = exact(sections, 'vm.clock', CLOCK_DATA_SIZE);
  return { irqchips, pit2: exact(sections, 'vm.pit2', PIT2_STATE_SIZE), clock: new DataView(clock.buffer, clock.byteOffset, 8).getBigUint64(0, true) };
}

/** Loads the irqchips, the PIT and the kvmclock (as saved: the guest sees no time pass while it was on disk). */
export function restoreVm(vm: Vm, state: VmSavedState): void {
  for (const chip of state.irqchips) vm.setIrqchip(chip.slice());
  vm.setPit2(state.pit2.slice());
  vm.setClock(state.clock);
}

function need(sections: ReadonlyMap<string, Uint8Array>, name: string): Uint8Array {
  const bytes = sections.get(name);
  if (!bytes) throw malformed(`section ${name} is missing`);
  return bytes;
}

function exact(sections: ReadonlyMap<string, Uint8Array>, name: string, size: number): Uint8Array {
  const bytes = need(sections, name);
  if (bytes.length !== size) throw malformed(`section ${name} has ${bytes.length} bytes, not ${size}`);
  return bytes;
}
