/**
 * The boot source (Firecracker vmm_config/boot_source.rs; swagger:
 * BootSource): the kernel, its initrd and its command line. The files are
 * checked when they are PUT, as Firecracker opens them then.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { component, HostPath, optional } from '../schema.js';

export const BootSource = component('BootSource', 'The guest kernel, initrd and kernel command line (pre-boot only).', z.strictObject({
  kernel_image_path: HostPath.describe('A bzImage, an ELF vmlinux or a freestanding test-guest ELF'),
  initrd_path: optional(HostPath),
  boot_args: optional(z.string().max(4096).refine((s) => !s.includes('\0'), 'must not contain a NUL byte')),
}));

export type BootSourceBody = z.output<typeof BootSource>;

/**
 * The command line when boot_args is absent, Firecracker's default
 * (vmm_config/boot_source.rs): a guest reboot goes through the keyboard
 * controller and ends the VM, a panic reboots, and no serial console.
 */
export const DEFAULT_BOOT_ARGS = 'reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce';

/** Throws unless `path` is a readable regular file; `what` names the field. */
export function checkReadableFile(path: string, what: string): void {
  try {
    if (!statSync(path).isFile()) throw new ApiError('ERR_API_BAD_FILE', `${what} ${path} is not a regular file`);
    accessSync(path, constants.R_OK);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('ERR_API_BAD_FILE', `${what} ${path} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function acceptBootSource(body: BootSourceBody): BootSourceBody {
  checkReadableFile(body.kernel_image_path, 'kernel_image_path');
  if (body.initrd_path != null) checkReadableFile(body.initrd_path, 'initrd_path');
  return body;
}
