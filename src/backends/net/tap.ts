/**
 * The TAP backend for virtio-net (`--net tap[=IFNAME]`): frames go
 * straight between guest RAM and a Linux TAP interface, one writev(2) or
 * readv(2) per frame on the IovecList the device built (no copy).
 *
 * The fd is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and
 * TUNSETVNETHDRSZ 12, so every frame read or written starts with the
 * 12-byte struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6) and the kernel
 * honours and fills its checksum and GSO fields itself: the device passes
 * the guest's header through untouched (vnetHeader = true). A TAP accepts
 * partial checksums and GSO frames from us whatever the offloads; what
 * TUNSETOFFLOAD sets is what the kernel may hand *us* (the guest's
 * GUEST_CSUM / GUEST_TSO4 / GUEST_TSO6, §5.1.3), so setOffloads applies
 * the guest's negotiated receive offloads.
 *
 * `--net tap=IFNAME` attaches to an existing TAP (`ip tuntap add dev
 * IFNAME mode tap`) and leaves its configuration alone. `--net tap`
 * creates `tkvm<N>` (the kernel picks N), brings it up, and keeps it
 * non-persistent (TUNSETPERSIST 0), so the kernel removes it when the fd
 * closes, at close() or when tkvm dies.
 */
import * as sys from '../../sys/libc.js';
import { errnoName, SysError } from '../../sys/errors.js';
import * as tun from '../../sys/tun.js';
import { TkvmError } from '../../util/errors.js';
import type { IovecList } from '../../memory/iovec-list.js';
import { type NetBackend, type NetOffloads, NetStatus } from '../../devices/net.js';

/** sizeof(struct virtio_net_hdr_v1) (virtio 1.2 §5.1.6). */
export const VNET_HEADER_BYTES = 12;
/** A 64 KiB GSO frame plus its Ethernet header and one VLAN tag. */
export const TAP_MAX_FRAME_BYTES = 65536 + 14 + 4;
/** The name the kernel numbers when tkvm creates a TAP. */
const CREATED_NAME_PATTERN = 'tkvm%d';
const TUN_DEVICE = '/dev/net/tun';
const SCRATCH_BYTES = 4096;

const EAGAIN = 11;
/** "File descriptor in bad state": the interface behind the fd was deleted. */
const EBADFD = 77;
const EMSGSIZE_NAME = 'EMSGSIZE';

export interface TapOptions {
  /** An existing TAP interface to attach to; absent: create `tkvm<N>` and remove it at close. */
  name?: string;
}

/** The step of opening a TAP that failed, for the error message. */
export type TapStep = 'open' | 'attach' | 'lookup';

/**
 * The one-line error for a failed step of opening a TAP (errno name
 * `code`), with a stable code and what to do about it:
 * ERR_TAP_NO_TUN, ERR_TAP_PERMISSION, ERR_TAP_BUSY, ERR_TAP_MISSING,
 * ERR_TAP_NOT_TAP, ERR_TAP_OPEN.
 */
export function tapOpenError(step: TapStep, code: string, name: string | undefined): TkvmError {
  const which = name === undefined ? 'tap' : `tap ${name}`;
  if (step === 'open' && (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO')) {
    return new TkvmError('ERR_TAP_NO_TUN', `${which}: ${TUN_DEVICE} is missing (${code}); load the tun module (modprobe tun) or use --net user`);
  }
  if (code === 'EPERM' || code === 'EACCES') {
    const fix = name === undefined
      ? `creating a TAP needs root (CAP_NET_ADMIN); or create one you own with "ip tuntap add dev tap0 mode tap user $USER" and use --net tap=tap0`
      : `run as root, or make it yours with "ip tuntap add dev ${name} mode tap user $USER"`;
    return new TkvmError('ERR_TAP_PERMISSION', `${which}: permission denied (${code} on ${step === 'open' ? TUN_DEVICE : 'TUNSETIFF'}); ${fix}`);
  }
  if (code === 'EBUSY') {
    return new TkvmError('ERR_TAP_BUSY', `${which}: busy, another process (or another NIC of this VM) is attached to it; stop it or choose another TAP`);
  }
  if (step === 'lookup' && code === 'ENODEV') {
    return new TkvmError('ERR_TAP_MISSING', `${which}: no such interface; create it with "ip tuntap add dev ${name ?? 'NAME'} mode tap", or use --net tap to have tkvm create one`);
  }
  if (step === 'attach' && code === 'EINVAL') {
    return new TkvmError('ERR_TAP_NOT_TAP', `${which}: not a TAP interface (a TUN device, or not made by tuntap); use a TAP made with "ip tuntap add dev NAME mode tap"`);
  }
  return new TkvmError('ERR_TAP_OPEN', `${which}: cannot ${step === 'open' ? `open ${TUN_DEVICE}` : step === 'attach' ? 'attach (TUNSETIFF)' : 'look it up'}: ${code}`);
}

function errnoCode(err: unknown): string {
  if (err instanceof SysError) return err.code;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'EIO';
}

/** Throws ERR_TAP_MISSING (or another TAP error) unless interface `name` exists in this network namespace. */
function requireInterface(name: string): void {
  const socket = sys.socket(sys.AF_INET, sys.SOCK_DGRAM);
  try {
    sys.ioctlBuf(socket, tun.SIOCGIFINDEX, tun.encodeIfreq(name), 'SIOCGIFINDEX');
  } catch (err) {
    throw tapOpenError('lookup', errnoCode(err), name);
  } finally {
    sys.close(socket);
  }
}

/** Sets IFF_UP on interface `name` (SIOCGIFFLAGS, then SIOCSIFFLAGS on an AF_INET socket). */
function bringUp(name: string): void {
  const socket = sys.socket(sys.AF_INET, sys.SOCK_DGRAM);
  try {
    const ifreq = tun.encodeIfreq(name);
    sys.ioctlBuf(socket, tun.SIOCGIFFLAGS, ifreq, 'SIOCGIFFLAGS');
    tun.setIfreqFlags(ifreq, tun.ifreqFlags(ifreq) | tun.IFF_UP);
    sys.ioctlBuf(socket, tun.SIOCSIFFLAGS, ifreq, 'SIOCSIFFLAGS');
  } finally {
    sys.close(socket);
  }
}

export class TapBackend implements NetBackend {
  readonly name: string;
  /** The interface name (the kernel's choice for a created TAP). */
  readonly interfaceName: string;
  /** True if tkvm created the interface (it disappears at close). */
  readonly created: boolean;
  readonly vnetHeader = true;
  readonly offloads: Readonly<NetOffloads> = Object.freeze({ csum: true, tso4: true, tso6: true });
  readonly maxFrameBytes = TAP_MAX_FRAME_BYTES;
  #fd: number;
  /** One page of our own; its first byte catches frames longer than the receive buffers. */
  readonly #scratch: sys.Pointer;
  readonly #overflowByte: number;
  #lastBytes = 0;
  #lastError = '';

  private constructor(fd: number, interfaceName: string, created: boolean) {
    this.#fd = fd;
    this.interfaceName = interfaceName;
    this.created = created;
    this.name = `tap ${interfaceName}`;
    this.#scratch = sys.mmap(SCRATCH_BYTES, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS);
    this.#overflowByte = Number(this.#scratch);
  }

  /** Opens the TAP (see the file comment); throws a one-line TkvmError (ERR_TAP_*) when it cannot. */
  static open(options: TapOptions = {}): TapBackend {
    const wanted = options.name;
    if (wanted !== undefined) {
      if (!tun.isValidInterfaceName(wanted)) {
        throw new TkvmError('ERR_TAP_NAME', `tap ${JSON.stringify(wanted)}: not a valid interface name (1 to 15 printable characters, none of / : % or space)`);
      }
      requireInterface(wanted);
    }
    let fd: number;
    try {
      fd = sys.open(TUN_DEVICE, sys.O_RDWR | sys.O_NONBLOCK);
    } catch (err) {
      throw tapOpenError('open', errnoCode(err), wanted);
    }
    try {
      const ifreq = tun.encodeIfreq(wanted ?? CREATED_NAME_PATTERN, tun.IFF_TAP | tun.IFF_NO_PI | tun.IFF_VNET_HDR);
      try {
        sys.ioctlBuf(fd, tun.TUNSETIFF, ifreq, 'TUNSETIFF');
      } catch (err) {
        throw tapOpenError('attach', errnoCode(err), wanted);
      }
      const interfaceName = tun.ifreqName(ifreq);
      sys.ioctlBuf(fd, tun.TUNSETVNETHDRSZ, new Int32Array([VNET_HEADER_BYTES]), 'TUNSETVNETHDRSZ');
      sys.ioctl(fd, tun.TUNSETOFFLOAD, 0, 'TUNSETOFFLOAD');
      if (wanted === undefined) {
        sys.ioctl(fd, tun.TUNSETPERSIST, 0, 'TUNSETPERSIST');
        bringUp(interfaceName);
      }
      return new TapBackend(fd, interfaceName, wanted === undefined);
    } catch (err) {
      sys.close(fd);
      if (err instanceof TkvmError) throw err;
      throw new TkvmError('ERR_TAP_OPEN', `tap ${wanted ?? '(new)'}: cannot set it up: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  get fd(): number {
    return this.#fd;
  }

  get lastBytes(): number {
    return this.#lastBytes;
  }

  get lastError(): string {
    return this.#lastError;
  }

  /**
   * TUNSETOFFLOAD with the guest's receive offloads (TSO only with CSUM,
   * and only what `offloads` allows). Never throws: a refusal leaves the
   * kernel handing over plain frames, which every guest accepts, and is
   * kept in lastError.
   */
  setOffloads(offloads: Readonly<NetOffloads>): void {
    if (this.#fd < 0) return;
    const bits = tun.tunOffloadBits({
      csum: offloads.csum && this.offloads.csum,
      tso4: offloads.tso4 && this.offloads.tso4,
      tso6: offloads.tso6 && this.offloads.tso6,
    });
    try {
      sys.ioctl(this.#fd, tun.TUNSETOFFLOAD, bits, 'TUNSETOFFLOAD');
    } catch (err) {
      this.#lastError = errnoCode(err);
    }
  }

  /** One writev of the whole frame (header first); the kernel takes a TAP write whole. */
  send(iov: IovecList): NetStatus {
    if (this.#fd < 0) return NetStatus.Closed;
    const n = sys.writevRaw(this.#fd, iov.bytes, iov.count);
    return n >= 0 ? NetStatus.Ok : this.#failure(-n);
  }

  /**
   * One readv of the next frame. The kernel silently truncates a frame
   * longer than the buffers and returns the bytes it copied, so one byte
   * of the backend's own scratch page goes after the caller's entries
   * (taken off again before returning): a frame that reaches it is too
   * long, an EMSGSIZE Error with lastBytes = iov.length + 1 ("at least").
   */
  receive(iov: IovecList): NetStatus {
    if (this.#fd < 0) return NetStatus.Closed;
    const room = iov.length;
    const guarded = iov.push(this.#overflowByte, 1);
    const n = sys.readvRaw(this.#fd, iov.bytes, iov.count);
    if (guarded) iov.truncate(room);
    if (n < 0) return this.#failure(-n);
    this.#lastBytes = n;
    if (n <= room) return NetStatus.Ok;
    this.#lastError = EMSGSIZE_NAME;
    return NetStatus.Error;
  }

  /** Maps a failed writev/readv (EINTR is already retried by libc.ts). */
  #failure(errno: number): NetStatus {
    if (errno === EAGAIN) return NetStatus.WouldBlock;
    this.#lastError = errno === EBADFD ? 'EBADFD' : errnoName(errno);
    return errno === EBADFD ? NetStatus.Closed : NetStatus.Error;
  }

  /** Closes the fd; a TAP tkvm created disappears with it. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    sys.close(fd);
    sys.munmap(this.#scratch, SCRATCH_BYTES);
  }
}

/**
 * The opener the VMM provides for virtio-net's host resource when the NIC
 * is `--net tap[=IFNAME]`: `request` is the device spec's TAP request
 * (`{ kind: 'tap', ifname? }`), so src/vmm/virtio-host.ts answers a TAP
 * request with `return openTap(request);`.
 */
export function openTap(request: { ifname?: string } = {}): NetBackend {
  return TapBackend.open(request.ifname !== undefined ? { name: request.ifname } : {});
}
