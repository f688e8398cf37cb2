/**
 * Network interfaces (Firecracker vmm_config/net.rs; swagger:
 * NetworkInterface, PartialNetworkInterface): each a tkvm virtio-net NIC
 * on the TAP device `host_dev_name` (opened, or created, at InstanceStart).
 */
import { z } from 'zod';
import { ApiError, unsupported } from '../errors.js';
import { component, optional, ResourceId } from '../schema.js';
import { RateLimiter, refuseRateLimiter } from './rate-limiter.js';
import type { NicConfig } from '../../vmm/config.js';

/** IFNAMSIZ is 16 bytes with the NUL (linux/if.h). */
const TapName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a network interface name of 1 to 15 characters');
const Mac = z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/, 'must be a MAC address aa:bb:cc:dd:ee:ff');

export const NetworkInterface = component('NetworkInterface', 'A virtio-net NIC on a host TAP device (PUT: pre-boot only).', z.strictObject({
  iface_id: ResourceId,
  host_dev_name: TapName.describe('The host TAP device'),
  guest_mac: optional(Mac),
  mtu: optional(z.int().min(68).max(65535)).describe('VIRTIO_NET_F_MTU; tkvm refuses it'),
  rx_rate_limiter: optional(RateLimiter),
  tx_rate_limiter: optional(RateLimiter),
}));

export const PartialNetworkInterface = component('PartialNetworkInterface', 'New rate limiters for a NIC (post-boot only); tkvm has none, so only empty ones are accepted.', z.strictObject({
  iface_id: ResourceId,
  rx_rate_limiter: optional(RateLimiter),
  tx_rate_limiter: optional(RateLimiter),
}));

export type NetworkInterfaceBody = z.output<typeof NetworkInterface>;
export type PartialNetworkInterfaceBody = z.output<typeof PartialNetworkInterface>;

function checkId(bodyId: string, pathId: string): void {
  if (bodyId !== pathId) throw new ApiError('ERR_API_ID_MISMATCH', 'The id from the path does not match the id from the body!');
}

export function acceptNetworkInterface(body: NetworkInterfaceBody, pathId: string): NetworkInterfaceBody {
  checkId(body.iface_id, pathId);
  if (body.mtu != null) throw unsupported(`the MTU feature (network interface ${body.iface_id} mtu)`);
  refuseRateLimiter(body.rx_rate_limiter, `network interface ${body.iface_id} rx`);
  refuseRateLimiter(body.tx_rate_limiter, `network interface ${body.iface_id} tx`);
  return body;
}

export function acceptNetworkInterfaceUpdate(body: PartialNetworkInterfaceBody, pathId: string): PartialNetworkInterfaceBody {
  checkId(body.iface_id, pathId);
  refuseRateLimiter(body.rx_rate_limiter, `network interface ${body.iface_id} rx`);
  refuseRateLimiter(body.tx_rate_limiter, `network interface ${body.iface_id} tx`);
  return body;
}

export function interfacesToNics(interfaces: readonly NetworkInterfaceBody[]): NicConfig[] {
  return interfaces.map((n) => ({ backend: 'tap', ifname: n.host_dev_name, mac: n.guest_mac ?? undefined, ports: [], dns: false }));
}
