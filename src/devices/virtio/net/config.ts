/**
 * virtio-net constants and configuration space (virtio 1.2 §5.1).
 */
import { ConfigSpace } from '../config-space.js';

/** Feature bits (§5.1.3). */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  GUEST_ANNOUNCE: 21,
  CTRL_MAC_ADDR: 23,
} as const;

/** Queue indices with one queue pair and no MQ (§5.1.2): receiveq1, transmitq1, controlq. */
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
export const CTRL_QUEUE = 2;

/** virtio_net_config.status bits (§5.1.4). */
export const NetStatusBit = { LINK_UP: 1, ANNOUNCE: 2 } as const;

/** Field offsets of struct virtio_net_config (§5.1.4): mac[6], le16 status, le16 max_virtqueue_pairs, le16 mtu. */
export const NetConfigOffset = { mac: 0, status: 6, maxVirtqueuePairs: 8, mtu: 10 } as const;
export const NET_CONFIG_SIZE = 12;

/** The largest MTU a driver may be offered (§5.1.4.1: at least 68, at most 65535). */
export const MAX_MTU = 65535;
export const MIN_MTU = 68;
/** Ethernet header bytes (destination, source, type) counted in a frame but not in the MTU. */
export const ETH_HEADER_BYTES = 14;

/** Control queue classes and commands (§5.1.6.5). */
export const CtrlClass = { RX: 0, MAC: 1, VLAN: 2, ANNOUNCE: 3, MQ: 4, GUEST_OFFLOADS: 5 } as const;
export const CtrlRxCommand = { PROMISC: 0, ALLMULTI: 1 } as const;
export const CtrlMacCommand = { TABLE_SET: 0, ADDR_SET: 1 } as const;
export const CtrlAnnounceCommand = { ACK: 0 } as const;
export const CTRL_OK = 0;
export const CTRL_ERR = 1;

/** Parses `aa:bb:cc:dd:ee:ff` into 6 bytes, or null. */
export function parseMac(text: string): Uint8Array | null {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The device's configuration space, shared with the transport's thread. */
export class NetConfig {
  readonly space = new ConfigSpace(NET_CONFIG_SIZE);

  constructor(mac: Uint8Array, mtu: number) {
    this.setMac(mac);
    this.space.view.setUint16(NetConfigOffset.maxVirtqueuePairs, 1, true);
    this.space.view.setUint16(NetConfigOffset.mtu, mtu, true);
  }

  setMac(mac: Uint8Array): void {
    this.space.bytes.set(mac.subarray(0, 6), NetConfigOffset.mac);
  }

  get mac(): Uint8Array {
    return this.space.bytes.slice(NetConfigOffset.mac, NetConfigOffset.mac + 6);
  }

  get status(): number {
    return this.space.view.getUint16(NetConfigOffset.status, true);
  }

  set status(value: number) {
    this.space.view.setUint16(NetConfigOffset.status, value, true);
  }
}
