/**
 * tkvm as a library (`import { createVm } from 'tkvm'`, package.json
 * "exports"): VMs configured with the Firecracker resource model. See
 * docs/library.md.
 */
export { createVm, Vm, type VmDefinition, type VmOptions, type VmExit, type VmLifecycleState, type VmEventMap } from './vm.js';
export { ApiError } from './errors.js';
export type { TkvmVmOptions } from './vm-resources.js';
export type { VmStats, VcpuStats, DeviceStats } from '../vmm/controller.js';
export { TkvmError } from '../util/errors.js';
