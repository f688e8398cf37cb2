/**
 * Host compatibility: everything tkvm does differently because of the host
 * it runs on lives in this module (see README.md). The rest of the VMM asks
 * `hostCompat(mode)` and never tests the host mode itself.
 */
import { compatKernelParams, type HostFacts, type HostMode } from './host-mode.js';
import { handleEmulationFailure, type CompatAction, type VcpuStateForCompat } from './emulation.js';

export { detectHostMode, parseHostModeSetting, compatKernelParams, compatKernelParamReasons, PVM_MODULE_PATH, HOST_MODE_SETTINGS, GLIBC_NO_AVX_TUNABLES } from './host-mode.js';
export type { HostFacts, HostMode, HostModeSetting } from './host-mode.js';
export { handleEmulationFailure, formatUnknownInstruction, formatInstructionBytes, RFLAGS_AC, BREAKPOINT_VECTOR } from './emulation.js';
export type { CompatAction, VcpuStateForCompat } from './emulation.js';
export { decodeMemoryOperand, effectiveAddress } from './memory-operand.js';
export type { EffectiveAddress, SegmentBases } from './memory-operand.js';
export { carryOutMxcsr, MXCSR_RESERVED_BITS, GENERAL_PROTECTION_VECTOR } from './mxcsr.js';
export type { MxcsrEnvironment, MxcsrOutcome } from './mxcsr.js';

export interface HostCompat {
  readonly mode: HostMode;
  /** Parameters to append to the guest kernel command line. */
  kernelParams(facts: HostFacts): string[];
  /** What to do after an emulation failure (same on every host: the emulated instructions are architecturally exact). */
  onEmulationFailure(bytes: Uint8Array, state: VcpuStateForCompat): CompatAction;
}

export function hostCompat(mode: HostMode): HostCompat {
  return {
    mode,
    kernelParams: (facts) => compatKernelParams(mode, facts),
    onEmulationFailure: handleEmulationFailure,
  };
}
