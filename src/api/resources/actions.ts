/** Synchronous actions (swagger: InstanceActionInfo): InstanceStart, SendCtrlAltDel, FlushMetrics. */
import { z } from 'zod';
import { component } from '../schema.js';

export const InstanceActionInfo = component('InstanceActionInfo', 'An action for the VM.', z.strictObject({
  action_type: z.enum(['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel']),
}));

export type ActionBody = z.output<typeof InstanceActionInfo>;
