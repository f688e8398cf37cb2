import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';

/** What a benchmark result depends on about the machine it ran on. */
export interface HostInfo {
  /** KVM is provided by kvm_pvm (nested, no VT-x/AMD-V): exits cost more. */
  pvm: boolean;
  /** "model name" of the first CPU in /proc/cpuinfo, or "unknown". */
  cpu: string;
  cores: number;
  kernel: string;
}

/** Extracts the first "model name" from /proc/cpuinfo text. */
export function cpuModelFromCpuinfo(cpuinfo: string): string {
  const match = /^model name\s*:\s*(.*)$/m.exec(cpuinfo);
  return match?.[1]?.trim() || 'unknown';
}

export function hostInfo(): HostInfo {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux, or /proc not mounted: report "unknown".
  }
  return {
    pvm: existsSync('/sys/module/kvm_pvm'),
    cpu: cpuModelFromCpuinfo(cpuinfo),
    cores: availableParallelism(),
    kernel: release(),
  };
}
