/**
 * The machine configuration (Firecracker vmm_config/machine_config.rs;
 * swagger: MachineConfiguration): vCPUs and memory. tkvm maps it onto
 * VmConfig.cpus and memBytes; the CPU features it cannot offer (SMT, CPU
 * templates, huge pages, dirty-page tracking for snapshots) are refused.
 */
import { z } from 'zod';
import { component, optional } from '../schema.js';
import { unsupported } from '../errors.js';

/** Firecracker's range of vCPUs. */
export const MAX_VCPUS = 32;
/** tkvm's smallest guest RAM (as `tkvm run --mem`). */
export const MIN_MEM_MIB = 16;
export const MAX_MEM_MIB = 1024 * 1024;

const fields = {
  vcpu_count: z.int().min(1).max(MAX_VCPUS).describe('Number of vCPUs, 1 to 32'),
  mem_size_mib: z.int().min(MIN_MEM_MIB).max(MAX_MEM_MIB).describe('Guest memory in MiB (tkvm: at least 16)'),
  smt: optional(z.boolean()).describe('Simultaneous multithreading; tkvm refuses true'),
  track_dirty_pages: optional(z.boolean()).describe('Dirty page tracking for diff snapshots; tkvm refuses true'),
  cpu_template: optional(z.enum(['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'])).describe('Deprecated CPU template; tkvm accepts only None'),
  huge_pages: optional(z.enum(['None', '2M'])).describe('Huge pages backing guest memory; tkvm accepts only None'),
};

export const MachineConfiguration = component('MachineConfiguration', 'vCPU count and memory size of the VM (pre-boot only).', z.strictObject(fields));
/** PATCH /machine-config: any subset of the fields. */
export const MachineConfigurationUpdate = component('MachineConfigurationUpdate', 'A subset of MachineConfiguration (pre-boot only).', z.strictObject(fields).partial());

export type MachineConfigBody = z.output<typeof MachineConfiguration>;

/** The configuration in force before any PUT (Firecracker: 1 vCPU, 128 MiB). */
export function defaultMachineConfig(): Required<{ [K in keyof MachineConfigBody]: NonNullable<MachineConfigBody[K]> }> {
  return { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, cpu_template: 'None', huge_pages: 'None' };
}

/** Refuses what tkvm cannot do; returns the full configuration with defaults for absent optional fields. */
export function acceptMachineConfig(body: MachineConfigBody): ReturnType<typeof defaultMachineConfig> {
  if (body.smt === true) throw unsupported('SMT (machine-config smt: true)');
  if (body.track_dirty_pages === true) throw unsupported('dirty page tracking (machine-config track_dirty_pages: true; snapshots are issue 13)');
  if (body.cpu_template != null && body.cpu_template !== 'None') throw unsupported(`CPU templates (machine-config cpu_template: ${body.cpu_template})`);
  if (body.huge_pages === '2M') throw unsupported('huge pages (machine-config huge_pages: 2M)');
  const defaults = defaultMachineConfig();
  return {
    vcpu_count: body.vcpu_count,
    mem_size_mib: body.mem_size_mib,
    smt: body.smt ?? defaults.smt,
    track_dirty_pages: body.track_dirty_pages ?? defaults.track_dirty_pages,
    cpu_template: body.cpu_template ?? defaults.cpu_template,
    huge_pages: body.huge_pages ?? defaults.huge_pages,
  };
}
