/**
 * struct kvm_run decoding (Documentation/virt/kvm/api.rst, section 5, "The
 * kvm_run structure"). The vCPU loop decodes every exit into one reused
 * ExitInfo (decodeExitInto): no object, array or BigInt per IO/MMIO exit.
 * decodeExit gives the same exit as a discriminated union, for the rare
 * exits and for tools.
 */

export const ExitReason = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

export const SystemEvent = { SHUTDOWN: 1, RESET: 2, CRASH: 3, WAKEUP: 4, SUSPEND: 5, SEV_TERM: 6 } as const;
export const InternalSuberror = { EMULATION: 1, SIMUL_EX: 2, DELIVERY_EV: 3, UNEXPECTED_EXIT_REASON: 4 } as const;

/** Offsets inside struct kvm_run. */
export const RunOffset = {
  requestInterruptWindow: 0,
  immediateExit: 1,
  exitReason: 8,
  readyForInterruptInjection: 12,
  ifFlag: 13,
  cr8: 16,
  apicBase: 24,
  union: 32,
} as const;

export type VcpuExit =
  | { kind: 'io'; direction: 'in' | 'out'; port: number; size: 1 | 2 | 4; count: number; dataOffset: number }
  | { kind: 'mmio'; address: bigint; isWrite: boolean; len: number; dataOffset: number }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'interrupted' }
  | { kind: 'irq-window-open' }
  | { kind: 'fail-entry'; hardwareReason: bigint; cpu: number }
  | { kind: 'internal-error'; suberror: number; data: bigint[] }
  | { kind: 'system-event'; type: number; data: bigint[] }
  | { kind: 'debug'; exception: number; pc: bigint }
  | { kind: 'hypercall'; nr: bigint }
  | { kind: 'unknown'; reason: number; hardwareReason: bigint };

export type ExitKind = VcpuExit['kind'];

const TWO_32 = 0x1_0000_0000;

/**
 * One exit, decoded in place: its owner keeps one ExitInfo and every KVM_RUN
 * overwrites it. IO and MMIO exits fill the scalar fields only; the other
 * exits (which end the VM or are rare) also carry `detail`, allocated.
 */
export class ExitInfo {
  kind: ExitKind = 'unknown';
  /** KVM_EXIT_IO. */
  direction: 'in' | 'out' = 'out';
  port = 0;
  size = 0;
  count = 0;
  /** IO: offset of the data in kvm_run (-1 if KVM reported one at or past 2^32); MMIO: offset of mmio.data. */
  dataOffset = 0;
  /** KVM_EXIT_MMIO: guest-physical address, exact below 2^53. */
  address = 0;
  len = 0;
  isWrite = false;
  /** The full decoded exit for every kind but io, mmio, hlt, interrupted and irq-window-open; null for those. */
  detail: VcpuExit | null = null;
}

/** Decodes the exit that KVM_RUN left in kvm_run into `out`, allocating nothing for IO, MMIO, HLT and window exits. */
export function decodeExitInto(v: DataView, out: ExitInfo): ExitInfo {
  const reason = v.getUint32(RunOffset.exitReason, true);
  const u = RunOffset.union;
  switch (reason) {
    case ExitReason.IO: {
      out.kind = 'io';
      out.direction = v.getUint8(u) === 1 ? 'out' : 'in';
      out.size = v.getUint8(u + 1);
      out.port = v.getUint16(u + 2, true);
      out.count = v.getUint32(u + 4, true);
      // data_offset is a __u64; an offset past 2^32 is past any kvm_run mapping.
      out.dataOffset = v.getUint32(u + 12, true) === 0 ? v.getUint32(u + 8, true) : -1;
      out.detail = null;
      return out;
    }
    case ExitReason.MMIO:
      out.kind = 'mmio';
      out.address = v.getUint32(u, true) + v.getUint32(u + 4, true) * TWO_32;
      out.dataOffset = u + 8;
      out.len = v.getUint32(u + 16, true);
      out.isWrite = v.getUint8(u + 20) !== 0;
      out.detail = null;
      return out;
    case ExitReason.HLT:
      out.kind = 'hlt';
      out.detail = null;
      return out;
    case ExitReason.IRQ_WINDOW_OPEN:
      out.kind = 'irq-window-open';
      out.detail = null;
      return out;
    case ExitReason.INTR:
      out.kind = 'interrupted';
      out.detail = null;
      return out;
    default: {
      const d = decodeExit(v);
      out.kind = d.kind;
      out.detail = d;
      return out;
    }
  }
}

function u64s(v: DataView, offset: number, count: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < Math.min(count, 16); i++) out.push(v.getBigUint64(offset + i * 8, true));
  return out;
}

/** Decodes the exit that KVM_RUN left in the shared kvm_run page. */
export function decodeExit(v: DataView): VcpuExit {
  const reason = v.getUint32(RunOffset.exitReason, true);
  const u = RunOffset.union;
  switch (reason) {
    case ExitReason.IO:
      return {
        kind: 'io',
        direction: v.getUint8(u) === 1 ? 'out' : 'in',
        size: v.getUint8(u + 1) as 1 | 2 | 4,
        port: v.getUint16(u + 2, true),
        count: v.getUint32(u + 4, true),
        dataOffset: Number(v.getBigUint64(u + 8, true)),
      };
    case ExitReason.MMIO:
      return { kind: 'mmio', address: v.getBigUint64(u, true), dataOffset: u + 8, len: v.getUint32(u + 16, true), isWrite: v.getUint8(u + 20) !== 0 };
    case ExitReason.HLT:
      return { kind: 'hlt' };
    case ExitReason.SHUTDOWN:
      return { kind: 'shutdown' };
    case ExitReason.INTR:
      return { kind: 'interrupted' };
    case ExitReason.IRQ_WINDOW_OPEN:
      return { kind: 'irq-window-open' };
    case ExitReason.FAIL_ENTRY:
      return { kind: 'fail-entry', hardwareReason: v.getBigUint64(u, true), cpu: v.getUint32(u + 8, true) };
    case ExitReason.INTERNAL_ERROR:
      return { kind: 'internal-error', suberror: v.getUint32(u, true), data: u64s(v, u + 8, v.getUint32(u + 4, true)) };
    case ExitReason.SYSTEM_EVENT:
      return { kind: 'system-event', type: v.getUint32(u, true), data: u64s(v, u + 8, v.getUint32(u + 4, true)) };
    case ExitReason.DEBUG:
      return { kind: 'debug', exception: v.getUint32(u, true), pc: v.getBigUint64(u + 8, true) };
    case ExitReason.HYPERCALL:
      return { kind: 'hypercall', nr: v.getBigUint64(u, true) };
    default:
      return { kind: 'unknown', reason, hardwareReason: v.getBigUint64(u, true) };
  }
}

/**
 * The instruction bytes of an emulation failure. With KVM_INTERNAL_ERROR_EMULATION
 * and ndata >= 2, data[0] holds flags and data[1..] start with the length byte
 * followed by up to 15 instruction bytes (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES).
 */
export function emulationFailureBytes(exit: Extract<VcpuExit, { kind: 'internal-error' }>): Uint8Array | null {
  if (exit.suberror !== InternalSuberror.EMULATION || exit.data.length < 2) return null;
  const flags = exit.data[0]!;
  if ((flags & 1n) === 0n) return null;
  const raw = new Uint8Array(8 * (exit.data.length - 1));
  const v = new DataView(raw.buffer);
  exit.data.slice(1).forEach((w, i) => v.setBigUint64(i * 8, w, true));
  const len = Math.min(raw[0]!, 15, raw.length - 1);
  return raw.slice(1, 1 + len);
}
