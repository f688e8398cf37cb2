/**
 * Which host quirks tkvm works around. On a PVM host (the kvm_pvm module:
 * KVM without VT-x/AMD-V, guest ring 0 run by KVM's instruction emulator)
 * the guest kernel must avoid instructions and features the emulator
 * cannot handle; see docs in README.md next to this file.
 */
import { existsSync } from 'node:fs';
import { UsageError } from '../../util/errors.js';

/** What the user asks for: detect, or force one mode. */
export type HostModeSetting = 'auto' | 'none' | 'pvm';
/** What tkvm runs with. */
export type HostMode = 'none' | 'pvm';

/** Present only when the PVM flavour of KVM is loaded. */
export const PVM_MODULE_PATH = '/sys/module/kvm_pvm';

export const HOST_MODE_SETTINGS: readonly HostModeSetting[] = ['auto', 'none', 'pvm'];

export function parseHostModeSetting(value: string): HostModeSetting {
  if ((HOST_MODE_SETTINGS as readonly string[]).includes(value)) return value as HostModeSetting;
  throw new UsageError(`unknown host compatibility mode "${value}" (expected one of: ${HOST_MODE_SETTINGS.join(', ')})`);
}

/** Resolves `auto` by probing for the kvm_pvm module; `fileExists` is injectable for tests. */
export function detectHostMode(setting: HostModeSetting, fileExists: (path: string) => boolean = existsSync): HostMode {
  switch (setting) {
    case 'none':
    case 'pvm':
      return setting;
    case 'auto':
      return fileExists(PVM_MODULE_PATH) ? 'pvm' : 'none';
  }
}

/**
 * glibc.cpu.hwcaps names (glibc sysdeps/x86/cpu-tunables.c) of every
 * feature whose glibc code paths use YMM or ZMM registers.
 */
export const GLIBC_NO_AVX_TUNABLES = 'glibc.cpu.hwcaps=' + ['AVX', 'AVX2', 'FMA', 'FMA4', 'AVX512F', 'AVX512CD', 'AVX512BW', 'AVX512DQ', 'AVX512ER', 'AVX512PF', 'AVX512VL', 'AVX_Fast_Unaligned_Load'].map((f) => `-${f}`).join(',');

/**
 * Linux kernel parameters that keep the guest away from what the host
 * cannot run. Numbers in clearcpuid= are X86_FEATURE_* bits
 * (word * 32 + bit, arch/x86/include/asm/cpufeatures.h); on PVM the
 * guest's CPUID shows the host's features whatever KVM_SET_CPUID2 says,
 * so features are hidden from the kernel instead. clearcpuid= taints the
 * kernel (TAINT_CPU_OUT_OF_SPEC); that is expected.
 */
const PVM_KERNEL_PARAMS: ReadonlyArray<{ param: string; why: string }> = [
  // vmcall hypercalls (e.g. the KVM PTP clock's KVM_HC_CLOCK_PAIRING) spin forever at the same RIP
  // on PVM; nopv turns off every KVM paravirt feature: hypercalls, kvm-clock, PV EOI, PV spinlocks.
  { param: 'nopv', why: 'no KVM paravirt features, so no vmcall hypercalls (they hang on PVM)' },
  // xsave/xrstor (and xsaveopt/xsavec/xsaves, xgetbv/xsetbv) fail in KVM's emulator; noxsave also
  // hides AVX and AVX-512, which need XSAVE.
  { param: 'noxsave', why: 'xsave/xrstor family cannot be emulated' },
  // rdfsbase/wrfsbase/rdgsbase/wrgsbase in the context-switch path cannot be emulated.
  { param: 'nofsgsbase', why: 'rd/wr fs/gs base instructions cannot be emulated' },
  // 141 CX16: lock cmpxchg16b (SLUB's double-word cmpxchg).
  // 308 SMAP: clac/stac around every user access (tkvm can also emulate them, but each is an exit).
  // 151 POPCNT, 291 BMI1, 296 BMI2: instructions the compiler emits when the kernel patches in
  //     feature-specific code paths (alternatives), none of which the emulator knows.
  // 288 FSGSBASE: the CPUID bit behind nofsgsbase, cleared as well so nothing re-enables it.
  // 137 SSSE3: Debian's cloud kernel runs SSE code during boot once SSSE3 is there (seen:
  //     `movd %ecx,%xmm15`, 66 44 0f 6e f9, after "clocksource: Switched to clocksource tsc"),
  //     which the emulator cannot execute; without SSSE3 it keeps to the generic C code.
  { param: 'clearcpuid=141,308,151,291,296,288,137', why: 'hide CX16, SMAP, POPCNT, BMI1, BMI2, FSGSBASE and SSSE3' },
  // Guest user space runs natively with the host's AVX, but noxsave leaves the guest kernel saving
  // only the FXSAVE state at a context switch, so concurrent processes clobber each other's upper
  // YMM halves (measured; docs/pvm.md "Known problems"): busybox pipelines segfaulted. glibc picks
  // AVX2/EVEX string functions by CPUID; this tunable keeps every glibc program (static ones too)
  // on the SSE versions. The kernel hands a KEY=VALUE parameter with no dot in KEY to init as an
  // environment variable (init/main.c, unknown_bootoption), so every process inherits it.
  { param: `GLIBC_TUNABLES=${GLIBC_NO_AVX_TUNABLES}`, why: 'keeps glibc\'s string functions off AVX, whose upper register halves the guest kernel cannot save here' },
  // The default guest kernel's fix-up (guest/kernel/patches/0001-x86-pvm-syscall-fixup.patch):
  //     completes user-space SYSCALLs that fault at entry_SYSCALL_64; other kernels ignore it.
  { param: 'tkvm.pvm_syscall', why: 'turns on the default guest kernel\'s fix-up that completes user-space system calls faulting at LSTAR (other kernels ignore it)' },
];

/** What the VMM learned from KVM that some parameters depend on. */
export interface HostFacts {
  /** The guest TSC frequency (KVM_GET_TSC_KHZ), if KVM reports it. */
  tscKhz?: number | undefined;
}

/**
 * Without kvmclock (nopv) and with hardware-reduced ACPI (no PIT, HPET or
 * PM timer), Linux has no reference to calibrate the TSC against: it marks
 * the TSC unstable and the LAPIC deadline timer never ticks, so boot stops
 * before "Calibrating delay loop". KVM knows the guest TSC frequency; hand it
 * to the kernel (tsc_early_khz, Documentation/admin-guide/kernel-parameters.txt).
 */
function tscParams(facts: HostFacts): string[] {
  return facts.tscKhz !== undefined && facts.tscKhz > 0 ? [`tsc_early_khz=${facts.tscKhz}`] : [];
}

export function compatKernelParams(mode: HostMode, facts: HostFacts = {}): string[] {
  return mode === 'pvm' ? [...PVM_KERNEL_PARAMS.map((p) => p.param), ...tscParams(facts)] : [];
}

/** The same parameters with the reason for each, for logs and docs. */
export function compatKernelParamReasons(mode: HostMode): Array<{ param: string; why: string }> {
  return mode === 'pvm'
    ? [...PVM_KERNEL_PARAMS.map((p) => ({ ...p })), { param: 'tsc_early_khz=<KVM_GET_TSC_KHZ>', why: 'nopv leaves no kvmclock and hardware-reduced ACPI no timer to calibrate the TSC against' }]
    : [];
}
