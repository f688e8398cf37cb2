/** Snapshots (Firecracker vmm_config/snapshot.rs; swagger: SnapshotCreateParams, SnapshotLoadParams): validated, then refused until issue 13. */
import { z } from 'zod';
import { component, HostPath, optional } from '../schema.js';
import { unsupported } from '../errors.js';

export const SnapshotCreateParams = component('SnapshotCreateParams', 'Where to write a snapshot. tkvm answers 400 until snapshots exist (issue 13).', z.strictObject({
  snapshot_path: HostPath,
  mem_file_path: HostPath,
  snapshot_type: optional(z.enum(['Full', 'Diff'])),
}));

const MemoryBackend = z.strictObject({ backend_type: z.enum(['File', 'Uffd']), backend_path: HostPath });

export const SnapshotLoadParams = component('SnapshotLoadParams', 'A snapshot to load. tkvm answers 400 until snapshots exist (issue 13).', z.strictObject({
  snapshot_path: HostPath,
  mem_file_path: optional(HostPath),
  mem_backend: optional(MemoryBackend),
  enable_diff_snapshots: optional(z.boolean()),
  track_dirty_pages: optional(z.boolean()),
  resume_vm: optional(z.boolean()),
  network_overrides: optional(z.array(z.strictObject({ iface_id: z.string(), host_dev_name: z.string() }))),
  vsock_override: optional(z.strictObject({ uds_path: HostPath })),
  clock_realtime: optional(z.boolean()),
}));

export function refuseSnapshot(): never {
  throw unsupported('snapshots yet (issue 13)');
}
