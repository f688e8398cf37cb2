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

/** One distinct place the profiler found a vCPU, and how often. */
export interface ProfileSample {
  /** Guest RIP, 0x and 16 hex digits. */
  rip: string;
  /** CPL 3 (guest user space) rather than the kernel. */
  user: boolean;
  cpu: number;
  count: number;
}

/** What `tkvm perf` gets from a VM (the control command `perf`). */
export interface ProfileResult {
  /** The kernel (or test guest) file this VM booted, for its symbols. */
  kernelPath: string;
  frequencyHz: number;
  durationMs: number;
  vcpus: number;
  /** Samples taken, and asked for but not answered in time (a paused vCPU, a long exit). */
  taken: number;
  lost: number;
  /** Distinct (vCPU, mode, RIP) places, most frequent first. */
  samples: ProfileSample[];
}

/** What `snapshot` reports (docs/snapshot.md). */
export interface SnapshotResult {
  dir: string;
  stateBytes: number;
  /** Guest RAM, pages the host had mapped, and pages written (not all zero). */
  memoryBytes: number;
  touchedPages: number;
  dataPages: number;
  elapsedMs: number;
}

/** Receives a chunk of guest console output; it must not keep the chunk beyond the call. */
export type ConsoleOutputListener = (chunk: Uint8Array) => void;

/** One console client's attachment (the control command `console`). */
export interface ConsoleAttachment {
  /** The recent console output (a bounded ring), oldest first; live output follows it without a gap. */
  recent: Uint8Array;
  detach(): void;
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
  /** Samples every vCPU's RIP at `frequencyHz` for `durationMs` (tkvm perf). */
  profile(durationMs: number, frequencyHz: number): Promise<ProfileResult>;
  /** Writes a snapshot to `dir` with the vCPUs parked, then resumes or stops the VM. */
  snapshot(dir: string, after: 'resume' | 'stop'): Promise<SnapshotResult>;
  /** Starts passing the guest console's output to `listener`; never blocks the VM (the listener drops what it cannot send). */
  attachConsole(listener: ConsoleOutputListener): ConsoleAttachment;
  /** Types bytes into the guest console (the device the terminal types into); returns how many were queued, the rest are dropped. */
  writeConsole(bytes: Uint8Array): number;
}
