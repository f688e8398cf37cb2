/**
 * What a running VM offers to management (the control socket): the VMM
 * implements it; the control server only calls it.
 */

export type VmState = 'running' | 'paused' | 'stopping';

export interface VmInfo {
  name: string;
  pid: number;
  state: VmState;
  cpus: number;
  memBytes: number;
  /** Milliseconds since the VM started. */
  uptimeMs: number;
}

export interface SegmentInfo {
  selector: number;
  base: string; // hex
  limit: number;
  type: number;
  dpl: number;
  present: boolean;
  long: boolean;
  db: boolean;
}

export interface VcpuDebugInfo {
  id: number;
  /** General purpose registers, RIP and RFLAGS as 0x-prefixed hex strings. */
  regs: Record<string, string>;
  segments: Record<string, SegmentInfo>;
  /** CR0, CR2, CR3, CR4, CR8, EFER, APIC base as hex strings. */
  control: Record<string, string>;
  /** Up to 16 bytes at RIP as hex, or null if RIP is not mapped to RAM. */
  codeAtRip: string | null;
}

export interface VcpuStats {
  id: number;
  /** Exit counts by reason name (io, mmio, hlt, ...). */
  exits: Record<string, number>;
}

export interface DeviceStats {
  name: string;
  /** Request and byte counters, by counter name. */
  counters: Record<string, number>;
}

export interface VmStats {
  vcpus: VcpuStats[];
  devices: DeviceStats[];
  rssBytes: number;
}

export interface VmController {
  info(): VmInfo;
  /** Graceful: ask the guest to power off. force: stop at once. */
  stop(force: boolean): Promise<void>;
  /** All vCPUs leave KVM_RUN and wait; resolves once every vCPU is parked. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  debug(): Promise<VcpuDebugInfo[]>;
  stats(): Promise<VmStats>;
  injectNmi(cpu: number): Promise<void>;
  sendSysrq(key: string): Promise<void>;
}
