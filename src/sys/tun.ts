/**
 * TUN/TAP and network-interface ioctls (linux/if_tun.h, linux/sockios.h,
 * net/if.h) and `struct ifreq`, the argument most of them take. Pure
 * numbers and a codec: the calls themselves go through libc.ts (ioctl,
 * ioctlBuf). x86-64 layout; the numbers are checked against the kernel
 * headers in tun.test.ts.
 */

/** _IOW('T', 202, int): attach the fd to a TUN/TAP interface (creating it if needed). */
export const TUNSETIFF = 0x400454ca;
/** _IOW('T', 203, int): keep (1) or drop (0) the interface when its last fd closes. */
export const TUNSETPERSIST = 0x400454cb;
/** _IOW('T', 208, unsigned int): the TUN_F_* offloads the reader accepts. */
export const TUNSETOFFLOAD = 0x400454d0;
/** _IOR('T', 210, unsigned int): the struct ifreq of the attached interface. */
export const TUNGETIFF = 0x800454d2;
/** _IOW('T', 216, int): size of the virtio-net header before each frame. */
export const TUNSETVNETHDRSZ = 0x400454d8;

/** TUNSETIFF flags. */
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

/** TUNSETOFFLOAD bits (virtio 1.2 §5.1.3: GUEST_CSUM, GUEST_TSO4, GUEST_TSO6). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;

/** Socket ioctls on an interface by name (linux/sockios.h). */
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFINDEX = 0x8933;
/** Interface flag: administratively up (net/if.h). */
export const IFF_UP = 0x1;

/** struct ifreq: char ifr_name[IFNAMSIZ], then a 24-byte union (ifr_flags is a short at 16). */
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
const IFREQ_FLAGS_OFFSET = 16;
const IFREQ_INT_OFFSET = 16;

/**
 * The kernel's dev_valid_name(), restricted to printable ASCII and without
 * '%' (a name with "%d" asks the kernel to pick a number): 1 to 15 bytes,
 * not "." or "..", no '/', ':' or white space.
 */
export function isValidInterfaceName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && name !== '.' && name !== '..' && /^[\x21-\x7e]+$/.test(name) && !/[/:%]/.test(name);
}

/** A struct ifreq with `name` (at most 15 bytes; "%d" allowed for the kernel to fill in) and a short in the union. */
export function encodeIfreq(name: string, flags = 0): Uint8Array {
  const bytes = new Uint8Array(IFREQ_SIZE);
  const encoded = new TextEncoder().encode(name);
  if (encoded.length >= IFNAMSIZ || encoded.includes(0)) throw new RangeError(`interface name "${name}" does not fit struct ifreq`);
  bytes.set(encoded, 0);
  new DataView(bytes.buffer).setInt16(IFREQ_FLAGS_OFFSET, flags, true);
  return bytes;
}

/** ifr_name: the bytes before the first NUL (the kernel writes the chosen name back after TUNSETIFF). */
export function ifreqName(ifreq: Uint8Array): string {
  const end = ifreq.subarray(0, IFNAMSIZ).indexOf(0);
  return new TextDecoder().decode(ifreq.subarray(0, end < 0 ? IFNAMSIZ : end));
}

/** ifr_flags, as an unsigned 16-bit value. */
export function ifreqFlags(ifreq: Uint8Array): number {
  return new DataView(ifreq.buffer, ifreq.byteOffset).getUint16(IFREQ_FLAGS_OFFSET, true);
}

/** ifr_ifindex (an int in the union, SIOCGIFINDEX). */
export function ifreqIndex(ifreq: Uint8Array): number {
  return new DataView(ifreq.buffer, ifreq.byteOffset).getInt32(IFREQ_INT_OFFSET, true);
}

/** Sets ifr_flags in place (for SIOCSIFFLAGS after SIOCGIFFLAGS). */
export function setIfreqFlags(ifreq: Uint8Array, flags: number): void {
  new DataView(ifreq.buffer, ifreq.byteOffset).setUint16(IFREQ_FLAGS_OFFSET, flags & 0xffff, true);
}

/** The TUN_F_* bits for a set of offloads; TSO without CSUM is dropped (the kernel refuses it with EINVAL). */
export function tunOffloadBits(offloads: { csum: boolean; tso4: boolean; tso6: boolean }): number {
  if (!offloads.csum) return 0;
  return TUN_F_CSUM | (offloads.tso4 ? TUN_F_TSO4 : 0) | (offloads.tso6 ? TUN_F_TSO6 : 0);
}
