import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CpuidEntry } from '../../kvm/structs.js';
import { buildVcpuCpuid, KVM_CPUID_FLAG_SIGNIFCANT_INDEX } from './cpuid.js';

const e = (fn: number, index: number, eax: number, ebx: number, ecx: number, edx: number, flags = 0): CpuidEntry =>
  ({ function: fn, index, flags, eax, ebx, ecx, edx });

/** A small "GenuineIntel" table shaped like KVM_GET_SUPPORTED_CPUID output. */
function intelTable(): CpuidEntry[] {
  return [
    e(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
    e(1, 0, 0x000806f8, 0x00000800, 0x7ffefbff, 0xbfebfbff),
    e(4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0, 1), // L1d
    e(4, 1, 0x1c004122, 0x01c0003f, 0x3f, 0, 1), // L1i
    e(4, 2, 0x1c004143, 0x03c0003f, 0x7ff, 0, 1), // L2
    e(4, 3, 0x1c03c163, 0x0380003f, 0xbfff, 4, 1), // L3
    e(4, 4, 0, 0, 0, 0, 1),
    e(0xb, 0, 1, 1, 0x100, 0, 1),
    e(0xb, 1, 7, 2, 0x201, 0, 1),
    e(0x1f, 0, 1, 1, 0x100, 0, 1),
    e(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d, 0),
    e(0x80000008, 0, 0x3030, 0, 0, 0),
  ];
}

test('leaf 1: APIC id and logical count in EBX, hypervisor bit, HTT for SMP', () => {
  const t = buildVcpuCpuid(intelTable(), 2, 4);
  const l1 = t.find((x) => x.function === 1)!;
  assert.equal(l1.ebx >>> 24, 2);
  assert.equal((l1.ebx >>> 16) & 0xff, 4);
  assert.equal(l1.ebx & 0xffff, 0x0800, 'CLFLUSH size kept');
  assert.equal(l1.ecx >>> 31, 1);
  assert.equal((l1.edx >>> 28) & 1, 1);
  const up = buildVcpuCpuid(intelTable(), 0, 1).find((x) => x.function === 1)!;
  assert.equal((up.edx >>> 28) & 1, 0);
  assert.equal(up.ebx >>> 24, 0);
});

test('leaf 0xB and 0x1F: SMT level of 1, core level of N, x2APIC id in EDX', () => {
  const t = buildVcpuCpuid(intelTable(), 5, 6);
  for (const leaf of [0xb, 0x1f]) {
    const subs = t.filter((x) => x.function === leaf);
    assert.equal(subs.length, 3);
    assert.deepEqual(subs.map((x) => x.index), [0, 1, 2]);
    for (const s of subs) {
      assert.equal(s.edx, 5);
      assert.equal(s.flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    }
    assert.deepEqual([subs[0]!.eax, subs[0]!.ebx, subs[0]!.ecx], [0, 1, 0x100]);
    assert.deepEqual([subs[1]!.eax, subs[1]!.ebx, subs[1]!.ecx], [3, 6, 0x201]);
    assert.equal((subs[2]!.ecx >>> 8) & 0xff, 0, 'level type invalid ends the list');
  }
});

test('leaf 4: cores per package and cache sharing follow the vCPU count', () => {
  const t = buildVcpuCpuid(intelTable(), 0, 4).filter((x) => x.function === 4);
  for (const s of t.slice(0, 4)) assert.equal(s.eax >>> 26, 3, `subleaf ${s.index}`);
  assert.equal((t[0]!.eax >>> 14) & 0xfff, 0, 'L1 is per core');
  assert.equal((t[2]!.eax >>> 14) & 0xfff, 0, 'L2 is per core');
  assert.equal((t[3]!.eax >>> 14) & 0xfff, 3, 'L3 is shared by all');
  assert.equal(t[3]!.eax & 0x3fff, 0x0163 & 0x3fff, 'cache type and level kept');
  assert.equal(t[4]!.eax, 0, 'the terminating subleaf stays empty');
});

test('the KVM signature leaf and unknown leaves pass through; the input is not modified', () => {
  const input = intelTable();
  const before = structuredClone(input);
  const t = buildVcpuCpuid(input, 1, 2);
  assert.deepEqual(input, before);
  assert.deepEqual(t.find((x) => x.function === 0x40000000), input.find((x) => x.function === 0x40000000));
  assert.deepEqual(t.find((x) => x.function === 0x80000008), input.find((x) => x.function === 0x80000008), 'Intel: left alone');
});

test('AMD: 0x8000_0008 ECX holds the core count and APIC id size; 0x8000_001E the APIC id', () => {
  const amd = [
    e(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65),
    e(1, 0, 0x00a20f10, 0x00000800, 0x7ed8320b, 0x178bfbff),
    e(0x80000008, 0, 0x3030, 0, 0x7007, 0),
    e(0x8000001e, 0, 0, 0x100, 0x300, 0),
  ];
  const t = buildVcpuCpuid(amd, 3, 5);
  const l8 = t.find((x) => x.function === 0x80000008)!;
  assert.equal(l8.ecx & 0xff, 4);
  assert.equal((l8.ecx >>> 12) & 0xf, 3);
  const l1e = t.find((x) => x.function === 0x8000001e)!;
  assert.equal(l1e.eax, 3);
  assert.equal(l1e.ebx & 0xffff, 3);
  assert.equal(l1e.ecx & 0x7ff, 0);
});

test('vCPU count and index are range-checked', () => {
  assert.throws(() => buildVcpuCpuid(intelTable(), 0, 0), RangeError);
  assert.throws(() => buildVcpuCpuid(intelTable(), 2, 2), RangeError);
  assert.throws(() => buildVcpuCpuid(intelTable(), 0, 256), RangeError);
});

test('property: every vCPU gets a distinct APIC id in leaf 1 and 0xB; all values are u32', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 255 }), (n) => {
    const ids = new Set<number>();
    for (const i of new Set([0, n - 1, Math.floor(n / 2)])) {
      const t = buildVcpuCpuid(intelTable(), i, n);
      const l1 = t.find((x) => x.function === 1)!;
      assert.equal(l1.ebx >>> 24, i);
      assert.ok(t.filter((x) => x.function === 0xb).every((x) => x.edx === i));
      for (const x of t) for (const r of [x.eax, x.ebx, x.ecx, x.edx]) assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xffffffff);
      ids.add(l1.ebx >>> 24);
    }
    assert.equal(ids.size, new Set([0, n - 1, Math.floor(n / 2)]).size);
  }));
});
