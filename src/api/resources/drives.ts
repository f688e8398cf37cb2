/**
 * Block devices (Firecracker vmm_config/drive.rs; swagger: Drive,
 * PartialDrive), each a tkvm virtio-blk disk. The file is checked when it
 * is PUT (Firecracker opens it then); zero-length files are fine (Kata
 * creates placeholders and PATCHes them later). The root device goes
 * first and adds `root=/dev/vda` (or `root=PARTUUID=...`) and `ro`/`rw` to
 * the kernel command line, as Firecracker's builder does.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { z } from 'zod';
import { ApiError, unsupported } from '../errors.js';
import { component, HostPath, optional, ResourceId } from '../schema.js';
import { RateLimiter, refuseRateLimiter } from './rate-limiter.js';
import type { DiskConfig } from '../../vmm/config.js';

export const Drive = component('Drive', 'A virtio-blk drive backed by a host file or block device (PUT: pre-boot only).', z.strictObject({
  drive_id: ResourceId,
  path_on_host: optional(HostPath).describe('Host file or block device; required (tkvm has no vhost-user-block)'),
  is_root_device: z.boolean(),
  is_read_only: optional(z.boolean()),
  partuuid: optional(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a partition UUID')),
  cache_type: optional(z.enum(['Unsafe', 'Writeback'])).describe('Accepted; tkvm always passes guest flushes to the host file'),
  io_engine: optional(z.enum(['Sync', 'Async'])).describe('Accepted; tkvm has one I/O engine of its own'),
  rate_limiter: optional(RateLimiter),
  socket: optional(HostPath).describe('vhost-user-block socket; tkvm refuses it'),
}));

export const PartialDrive = component('PartialDrive', 'A new host file for a drive. After boot the device re-opens it and tells the guest its capacity (a virtio config change); before boot it replaces path_on_host.', z.strictObject({
  drive_id: ResourceId,
  path_on_host: optional(HostPath),
  rate_limiter: optional(RateLimiter),
}));

export type DriveBody = z.output<typeof Drive>;
export type PartialDriveBody = z.output<typeof PartialDrive>;

/** Throws unless `path` opens as a disk (a regular file or a block device), writable unless read-only. */
export function checkDiskFile(path: string, readOnly: boolean): void {
  try {
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) throw new ApiError('ERR_API_BAD_FILE', `path_on_host ${path} is not a regular file or a block device`);
    accessSync(path, readOnly ? constants.R_OK : constants.R_OK | constants.W_OK);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('ERR_API_BAD_FILE', `Unable to create the block device: ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function acceptDrive(body: DriveBody, pathId: string): DriveBody {
  if (body.drive_id !== pathId) throw new ApiError('ERR_API_ID_MISMATCH', 'The id from the path does not match the id from the body!');
  if (body.socket != null) throw unsupported('vhost-user-block drives (socket)');
  if (body.path_on_host == null) throw new ApiError('ERR_API_INVALID_BODY', `drive ${body.drive_id}: path_on_host is required`);
  refuseRateLimiter(body.rate_limiter, `drive ${body.drive_id}`);
  checkDiskFile(body.path_on_host, body.is_read_only ?? false);
  return body;
}

/**
 * The virtio-blk ID (VIRTIO_BLK_T_GET_ID, at most 20 bytes) Firecracker
 * gives a drive: the file's st_dev, st_rdev and st_ino in decimal.
 */
export function deviceId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}${st.rdev}${st.ino}`.slice(0, 20);
  } catch {
    return undefined;
  }
}

/** The drives in tkvm's order: the root device first (/dev/vda), then the others as they were first PUT. */
export function driveOrder(drives: readonly DriveBody[]): DriveBody[] {
  return [...drives.filter((d) => d.is_root_device), ...drives.filter((d) => !d.is_root_device)];
}

/** The drives in tkvm's order (the root device first) as disks. */
export function drivesToDisks(drives: readonly DriveBody[]): DiskConfig[] {
  return driveOrder(drives).map((d) => {
    const serial = deviceId(d.path_on_host!);
    return { path: d.path_on_host!, readOnly: d.is_read_only ?? false, ...(serial !== undefined ? { serial } : {}) };
  });
}

/** What the root drive adds to the kernel command line, or '' without one. */
export function rootArgs(drives: readonly DriveBody[]): string {
  const root = drives.find((d) => d.is_root_device);
  if (!root) return '';
  const device = root.partuuid != null ? `root=PARTUUID=${root.partuuid}` : 'root=/dev/vda';
  return `${device} ${root.is_read_only ? 'ro' : 'rw'}`;
}
