/**
 * KVM ioctl request numbers, built the way <asm-generic/ioctl.h> builds them
 * (Documentation/virt/kvm/api.rst lists each ioctl with its struct).
 */
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const KVMIO = 0xae;

function ioc(dir: number, nr: number, size: number): number {
  // Unsigned 32-bit result; `>>> 0` keeps the top direction bits positive.
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
const io = (nr: number): number => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number): number => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number): number => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, nr, size);

export const KVM_GET_API_VERSION = io(0x00);
export const KVM_CREATE_VM = io(0x01);
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4);
export const KVM_CHECK_EXTENSION = io(0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8);

export const KVM_CREATE_VCPU = io(0x41);
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, 32);
export const KVM_SET_TSS_ADDR = io(0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
export const KVM_CREATE_IRQCHIP = io(0x60);
export const KVM_IRQ_LINE = iow(0x61, 8);
export const KVM_IRQ_LINE_STATUS = iowr(0x67, 8);
export const KVM_SET_GSI_ROUTING = iow(0x6a, 8);
export const KVM_IRQFD = iow(0x76, 32);
export const KVM_CREATE_PIT2 = iow(0x77, 64);
export const KVM_IOEVENTFD = iow(0x79, 64);
export const KVM_SET_CLOCK = iow(0x7b, 48);
export const KVM_GET_CLOCK = ior(0x7c, 48);
export const KVM_SIGNAL_MSI = iow(0xa5, 32);

export const KVM_RUN = io(0x80);
export const KVM_GET_REGS = ior(0x81, 144);
export const KVM_SET_REGS = iow(0x82, 144);
export const KVM_GET_SREGS = ior(0x83, 312);
export const KVM_SET_SREGS = iow(0x84, 312);
export const KVM_TRANSLATE = iowr(0x85, 24);
export const KVM_GET_MSRS = iowr(0x88, 8);
export const KVM_SET_MSRS = iow(0x89, 8);
export const KVM_SET_SIGNAL_MASK = iow(0x8b, 4);
export const KVM_GET_FPU = ior(0x8c, 416);
export const KVM_SET_FPU = iow(0x8d, 416);
export const KVM_GET_LAPIC = ior(0x8e, 1024);
export const KVM_SET_LAPIC = iow(0x8f, 1024);
export const KVM_SET_CPUID2 = iow(0x90, 8);
export const KVM_GET_CPUID2 = iowr(0x91, 8);
export const KVM_GET_MP_STATE = ior(0x98, 4);
export const KVM_SET_MP_STATE = iow(0x99, 4);
export const KVM_NMI = io(0x9a);
export const KVM_SET_GUEST_DEBUG = iow(0x9b, 72);
export const KVM_GET_VCPU_EVENTS = ior(0x9f, 64);
export const KVM_SET_VCPU_EVENTS = iow(0xa0, 64);
export const KVM_ENABLE_CAP = iow(0xa3, 104);
export const KVM_GET_TSC_KHZ = io(0xa3);
export const KVM_KVMCLOCK_CTRL = io(0xad);

// VM and vCPU state, for snapshots (api.rst 4.26-4.43, 4.68, 4.70, 4.71, 4.42).
export const KVM_GET_IRQCHIP = iowr(0x62, 520);
/** Really _IOR in <linux/kvm.h>, though the kernel reads the struct. */
export const KVM_SET_IRQCHIP = ior(0x63, 520);
export const KVM_GET_PIT2 = ior(0x9f, 112);
export const KVM_SET_PIT2 = iow(0xa0, 112);
export const KVM_GET_DEBUGREGS = ior(0xa1, 128);
export const KVM_SET_DEBUGREGS = iow(0xa2, 128);
export const KVM_SET_TSC_KHZ = io(0xa2);
export const KVM_GET_XSAVE = ior(0xa4, 4096);
export const KVM_SET_XSAVE = iow(0xa5, 4096);
export const KVM_GET_XSAVE2 = ior(0xcf, 4096);
export const KVM_GET_XCRS = ior(0xa6, 392);
export const KVM_SET_XCRS = iow(0xa7, 392);

/** KVM_CHECK_EXTENSION capability numbers (include/uapi/linux/kvm.h). */
export const Cap = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  MP_STATE: 14,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  PIT2: 33,
  SET_BOOT_CPU_ID: 34,
  IOEVENTFD: 36,
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  MAX_VCPUS: 66,
  DEBUGREGS: 50,
  XSAVE: 55,
  XCRS: 56,
  TSC_CONTROL: 60,
  GET_TSC_KHZ: 61,
  KVMCLOCK_CTRL: 76,
  SIGNAL_MSI: 77,
  X2APIC_API: 129,
  IMMEDIATE_EXIT: 136,
  GET_MSR_FEATURES: 153,
  XSAVE2: 208,
} as const;
export type CapName = keyof typeof Cap;
