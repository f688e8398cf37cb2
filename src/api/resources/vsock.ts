/** virtio-vsock (Firecracker vmm_config/vsock.rs; swagger: Vsock): validated, then refused: tkvm has no vsock device yet. */
import { z } from 'zod';
import { component, HostPath, optional } from '../schema.js';
import { unsupported } from '../errors.js';

export const Vsock = component('Vsock', 'A vsock device proxied to host UNIX sockets. tkvm has none yet: PUT answers 400.', z.strictObject({
  guest_cid: z.int().min(3),
  uds_path: HostPath,
  vsock_id: optional(z.string()),
}));

export type VsockBody = z.output<typeof Vsock>;

export function acceptVsock(_body: VsockBody): never {
  throw unsupported('vsock devices yet');
}
