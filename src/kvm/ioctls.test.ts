import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ioc from './ioctls.js';

// Values printed by a C program compiled against <linux/kvm.h> (x86-64).
const KNOWN: Record<string, number> = {
  KVM_GET_API_VERSION: 0xae00, KVM_CREATE_VM: 0xae01, KVM_GET_MSR_INDEX_LIST: 0xc004ae02,
  KVM_CHECK_EXTENSION: 0xae03, KVM_GET_VCPU_MMAP_SIZE: 0xae04, KVM_GET_SUPPORTED_CPUID: 0xc008ae05,
  KVM_CREATE_VCPU: 0xae41, KVM_SET_USER_MEMORY_REGION: 0x4020ae46, KVM_SET_TSS_ADDR: 0xae47,
  KVM_SET_IDENTITY_MAP_ADDR: 0x4008ae48, KVM_CREATE_IRQCHIP: 0xae60, KVM_IRQ_LINE: 0x4008ae61,
  KVM_IRQ_LINE_STATUS: 0xc008ae67, KVM_SET_GSI_ROUTING: 0x4008ae6a, KVM_IRQFD: 0x4020ae76,
  KVM_CREATE_PIT2: 0x4040ae77, KVM_IOEVENTFD: 0x4040ae79, KVM_SIGNAL_MSI: 0x4020aea5,
  KVM_RUN: 0xae80, KVM_GET_REGS: 0x8090ae81, KVM_SET_REGS: 0x4090ae82, KVM_GET_SREGS: 0x8138ae83,
  KVM_SET_SREGS: 0x4138ae84, KVM_GET_MSRS: 0xc008ae88, KVM_SET_MSRS: 0x4008ae89,
  KVM_SET_SIGNAL_MASK: 0x4004ae8b, KVM_GET_FPU: 0x81a0ae8c, KVM_SET_FPU: 0x41a0ae8d,
  KVM_GET_LAPIC: 0x8400ae8e, KVM_SET_LAPIC: 0x4400ae8f, KVM_SET_CPUID2: 0x4008ae90,
  KVM_GET_CPUID2: 0xc008ae91, KVM_NMI: 0xae9a, KVM_GET_VCPU_EVENTS: 0x8040ae9f,
  KVM_SET_VCPU_EVENTS: 0x4040aea0, KVM_KVMCLOCK_CTRL: 0xaead, KVM_GET_MP_STATE: 0x8004ae98,
  KVM_SET_MP_STATE: 0x4004ae99, KVM_ENABLE_CAP: 0x4068aea3, KVM_GET_CLOCK: 0x8030ae7c,
  KVM_SET_CLOCK: 0x4030ae7b, KVM_TRANSLATE: 0xc018ae85, KVM_SET_GUEST_DEBUG: 0x4048ae9b,
  KVM_GET_IRQCHIP: 0xc208ae62, KVM_SET_IRQCHIP: 0x8208ae63, KVM_GET_PIT2: 0x8070ae9f, KVM_SET_PIT2: 0x4070aea0,
  KVM_GET_DEBUGREGS: 0x8080aea1, KVM_SET_DEBUGREGS: 0x4080aea2, KVM_SET_TSC_KHZ: 0xaea2, KVM_GET_XSAVE: 0x9000aea4,
  KVM_SET_XSAVE: 0x5000aea5, KVM_GET_XSAVE2: 0x9000aecf, KVM_GET_XCRS: 0x8188aea6, KVM_SET_XCRS: 0x4188aea7,
};

test('ioctl request numbers match <linux/kvm.h>', () => {
  for (const [name, value] of Object.entries(KNOWN)) {
    assert.equal((ioc as Record<string, unknown>)[name], value, name);
  }
});

test('capability numbers match <linux/kvm.h>', () => {
  assert.equal(ioc.Cap.IMMEDIATE_EXIT, 0x88);
  assert.equal(ioc.Cap.SIGNAL_MSI, 0x4d);
  assert.equal(ioc.Cap.KVMCLOCK_CTRL, 0x4c);
  assert.equal(ioc.Cap.MAX_VCPUS, 0x42);
  assert.equal(ioc.Cap.IRQFD, 0x20);
  assert.equal(ioc.Cap.IOEVENTFD, 0x24);
  assert.equal(ioc.Cap.PIT2, 0x21);
  assert.equal(ioc.Cap.NR_VCPUS, 9);
  assert.equal(ioc.Cap.IRQ_ROUTING, 0x19);
  assert.equal(ioc.Cap.X2APIC_API, 0x81);
  assert.equal(ioc.Cap.GET_MSR_FEATURES, 0x99);
});
