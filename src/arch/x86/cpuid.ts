/**
 * Per-vCPU CPUID tables, derived from KVM_GET_SUPPORTED_CPUID. The topology
 * tkvm presents: one package, N cores, one thread per core, APIC id = vCPU
 * index. Leaf layouts: Intel SDM vol. 2A, CPUID (leaves 1, 4, 0xB, 0x1F);
 * AMD APM vol. 3, appendix E (0x8000_0008, 0x8000_001E).
 */
import type { CpuidEntry } from '../../kvm/structs.js';

/** kvm_cpuid_entry2.flags: the entry is selected by ECX (index) too. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
/** Leaf 1 ECX bit 31: running under a hypervisor. */
export const CPUID_1_ECX_HYPERVISOR = 1 << 31;
/** Leaf 1 EDX bit 28: EBX[23:16] holds a valid logical processor count. */
export const CPUID_1_EDX_HTT = 1 << 28;
/** Largest vCPU count with 8-bit xAPIC ids (0..254; 255 is broadcast). */
export const MAX_VCPUS = 255;

const LEVEL_TYPE_SMT = 1;
const LEVEL_TYPE_CORE = 2;

/** CPUID vendor ids, EBX of leaf 0 ("Auth", "Hygo"). */
const VENDOR_EBX_AMD = 0x68747541;
const VENDOR_EBX_HYGON = 0x6f677948;

/** Bits needed to number `n` ids: ceil(log2 n). */
function idBits(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

/**
 * The CPUID table for vCPU `vcpuIndex` of `vcpuCount`: KVM's supported
 * entries with the APIC ids, core counts and hypervisor bit filled in.
 * Leaves this does not model (the KVM signature 0x4000_0000 included) are
 * passed through unchanged. `supported` is not modified.
 */
export function buildVcpuCpuid(supported: readonly CpuidEntry[], vcpuIndex: number, vcpuCount: number): CpuidEntry[] {
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > MAX_VCPUS) {
    throw new RangeError(`vCPU count ${vcpuCount} is outside 1..${MAX_VCPUS}`);
  }
  if (!Number.isInteger(vcpuIndex) || vcpuIndex < 0 || vcpuIndex >= vcpuCount) {
    throw new RangeError(`vCPU index ${vcpuIndex} is outside 0..${vcpuCount - 1}`);
  }
  const apicId = vcpuIndex;
  const coreBits = idBits(vcpuCount);
  const vendorEbx = supported.find((e) => e.function === 0)?.ebx;
  const isAmd = vendorEbx === VENDOR_EBX_AMD || vendorEbx === VENDOR_EBX_HYGON;
  const out: CpuidEntry[] = [];
  const topologyLeavesDone = new Set<number>();

  for (const original of supported) {
    const e = { ...original };
    switch (e.function) {
      case 1:
        e.ebx = ((e.ebx & 0x0000ffff) | (Math.min(1 << coreBits, 0xff) << 16) | (apicId << 24)) >>> 0;
        e.ecx = (e.ecx | CPUID_1_ECX_HYPERVISOR) >>> 0;
        e.edx = (vcpuCount > 1 ? e.edx | CPUID_1_EDX_HTT : e.edx & ~CPUID_1_EDX_HTT) >>> 0;
        break;
      case 4:
        if (!isAmd && (e.eax & 0x1f) !== 0) e.eax = deterministicCacheEax(e.eax, coreBits);
        break;
      case 0xb:
      case 0x1f:
        // Replace every subleaf KVM gave with tkvm's own two-level topology.
        if (!topologyLeavesDone.has(e.function)) {
          topologyLeavesDone.add(e.function);
          out.push(...extendedTopology(e.function, apicId, vcpuCount));
        }
        continue;
      case 0x80000008:
        if (isAmd) e.ecx = ((e.ecx & ~0xf0ff) | ((vcpuCount - 1) & 0xff) | (coreBits << 12)) >>> 0;
        break;
      case 0x8000001e:
        if (isAmd) {
          e.eax = apicId;
          e.ebx = ((e.ebx & ~0xffff) | apicId) >>> 0; // core id = APIC id, 1 thread per core
          e.ecx = (e.ecx & ~0x7ff) >>> 0; // node 0, one node per package
        }
        break;
      default:
        break;
    }
    out.push(e);
  }
  return out;
}

/** Leaf 4 EAX: cores per package in [31:26]; threads sharing the cache in [25:14]. */
function deterministicCacheEax(eax: number, coreBits: number): number {
  const level = (eax >>> 5) & 0x7;
  const sharing = level >= 3 ? (1 << coreBits) - 1 : 0;
  const coresMinus1 = Math.min((1 << coreBits) - 1, 63);
  return ((eax & 0x3fff) | (Math.min(sharing, 0xfff) << 14) | (coresMinus1 << 26)) >>> 0;
}

/**
 * Leaf 0xB / 0x1F subleaves: 0 = SMT level (1 thread), 1 = core level
 * (`count` cores), 2 = end of list. EDX is the x2APIC id in each.
 */
function extendedTopology(leaf: number, apicId: number, count: number): CpuidEntry[] {
  const entry = (index: number, eax: number, ebx: number, ecx: number): CpuidEntry => ({
    function: leaf, index, flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX, eax, ebx, ecx, edx: apicId,
  });
  return [
    entry(0, 0, 1, (LEVEL_TYPE_SMT << 8) | 0),
    entry(1, idBits(count), count, (LEVEL_TYPE_CORE << 8) | 1),
    entry(2, 0, 0, 2),
  ];
}
