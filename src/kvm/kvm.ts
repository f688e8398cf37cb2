/**
 * The /dev/kvm system fd: API version, capabilities, and what the host can
 * offer guests (supported CPUID, MSR index list).
 */
import * as sys from '../sys/libc.js';
import { SysError } from '../sys/errors.js';
import * as ioc from './ioctls.js';
import { type CapName, Cap } from './ioctls.js';
import { type CpuidEntry, decodeCpuid, CPUID_ENTRY_SIZE } from './structs.js';
import { Vm } from './vm.js';
import { TkvmError } from '../util/errors.js';

export const KVM_API_VERSION = 12;

/** Why /dev/kvm could not be used, with what a user can do about it. */
export class KvmUnavailableError extends TkvmError {
  constructor(code: 'ERR_KVM_MISSING' | 'ERR_KVM_ACCESS' | 'ERR_KVM_API', message: string) {
    super(code, message);
    this.name = 'KvmUnavailableError';
  }
}

export class Kvm {
  readonly fd: number;
  #vcpuMmapSize: number | undefined;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens /dev/kvm and checks the API version; errors say how to fix access. */
  static open(path = '/dev/kvm'): Kvm {
    let fd: number;
    try {
      fd = sys.open(path, sys.O_RDWR);
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT') {
        throw new KvmUnavailableError('ERR_KVM_MISSING',
          `${path} does not exist: load the KVM module (modprobe kvm_intel or kvm_amd) or enable virtualization in the BIOS/hypervisor`);
      }
      if (err instanceof SysError && (err.code === 'EACCES' || err.code === 'EPERM')) {
        throw new KvmUnavailableError('ERR_KVM_ACCESS',
          `no permission to open ${path}: add your user to the 'kvm' group (sudo usermod -aG kvm $USER, then log in again) or run as root`);
      }
      throw err;
    }
    const kvm = new Kvm(fd);
    const version = kvm.apiVersion();
    if (version !== KVM_API_VERSION) {
      sys.close(fd);
      throw new KvmUnavailableError('ERR_KVM_API', `${path} speaks KVM API ${version}, tkvm needs ${KVM_API_VERSION}`);
    }
    return kvm;
  }

  apiVersion(): number {
    return sys.ioctl(this.fd, ioc.KVM_GET_API_VERSION, 0, 'KVM_GET_API_VERSION');
  }

  /** KVM_CHECK_EXTENSION: 0 when absent, else a capability-specific value. */
  checkExtension(cap: CapName | number): number {
    const n = typeof cap === 'number' ? cap : Cap[cap];
    return sys.ioctl(this.fd, ioc.KVM_CHECK_EXTENSION, n, 'KVM_CHECK_EXTENSION');
  }

  /** Recommended vCPU count (KVM_CAP_NR_VCPUS) and hard maximum (KVM_CAP_MAX_VCPUS). */
  vcpuLimits(): { recommended: number; max: number } {
    const recommended = this.checkExtension('NR_VCPUS') || 4;
    const max = this.checkExtension('MAX_VCPUS') || recommended;
    return { recommended, max };
  }

  vcpuMmapSize(): number {
    this.#vcpuMmapSize ??= sys.ioctl(this.fd, ioc.KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE');
    return this.#vcpuMmapSize;
  }

  /** KVM_GET_SUPPORTED_CPUID, growing the buffer until the kernel is satisfied (E2BIG). */
  supportedCpuid(): CpuidEntry[] {
    for (let n = 64; n <= 4096; n *= 2) {
      const buf = new Uint8Array(8 + n * CPUID_ENTRY_SIZE);
      new DataView(buf.buffer).setUint32(0, n, true);
      try {
        sys.ioctlBuf(this.fd, ioc.KVM_GET_SUPPORTED_CPUID, buf, 'KVM_GET_SUPPORTED_CPUID');
        return decodeCpuid(buf);
      } catch (err) {
        if (!(err instanceof SysError && err.code === 'E2BIG')) throw err;
      }
    }
    throw new SysError('KVM_GET_SUPPORTED_CPUID', 7);
  }

  /** KVM_GET_MSR_INDEX_LIST: MSRs that KVM_GET_MSRS/KVM_SET_MSRS accept. */
  msrIndexList(): number[] {
    for (let n = 256; n <= 16384; n *= 2) {
      const buf = new Uint8Array(4 + n * 4);
      const v = new DataView(buf.buffer);
      v.setUint32(0, n, true);
      try {
        sys.ioctlBuf(this.fd, ioc.KVM_GET_MSR_INDEX_LIST, buf, 'KVM_GET_MSR_INDEX_LIST');
        const count = v.getUint32(0, true);
        return Array.from({ length: count }, (_, i) => v.getUint32(4 + i * 4, true));
      } catch (err) {
        if (!(err instanceof SysError && err.code === 'E2BIG')) throw err;
      }
    }
    throw new SysError('KVM_GET_MSR_INDEX_LIST', 7);
  }

  createVm(): Vm {
    const fd = sys.ioctl(this.fd, ioc.KVM_CREATE_VM, 0, 'KVM_CREATE_VM');
    return new Vm(fd, this.vcpuMmapSize());
  }

  close(): void {
    sys.close(this.fd);
  }
}
