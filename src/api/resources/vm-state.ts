/**
 * The VM's state (swagger: Vm, InstanceInfo, FirecrackerVersion), mapped
 * onto tkvm's lifecycle: Not started until InstanceStart, then tkvm's
 * running or paused.
 */
import { z } from 'zod';
import { component } from '../schema.js';

/** The Firecracker API version whose behaviour tkvm follows. */
export const FIRECRACKER_API_VERSION = '1.16.0';

export const Vm = component('Vm', 'The desired VM state (post-boot only).', z.strictObject({
  state: z.enum(['Paused', 'Resumed']),
}));

export const InstanceState = z.enum(['Not started', 'Running', 'Paused']);
export type InstanceStateName = z.output<typeof InstanceState>;

export const InstanceInfo = component('InstanceInfo', 'What GET / answers.', z.strictObject({
  app_name: z.string(),
  id: z.string(),
  state: InstanceState,
  vmm_version: z.string(),
}));

export const FirecrackerVersion = component('FirecrackerVersion', 'The Firecracker API version tkvm follows.', z.strictObject({
  firecracker_version: z.string(),
}));

export const ApiErrorBody = component('Error', 'Every error answer (HTTP 400).', z.strictObject({
  fault_message: z.string(),
}));

export type VmBody = z.output<typeof Vm>;
export type InstanceInfoBody = z.output<typeof InstanceInfo>;
