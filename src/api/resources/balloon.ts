/** The memory balloon (Firecracker vmm_config/balloon.rs; swagger: Balloon...): validated, then refused: tkvm has no balloon device yet. */
import { z } from 'zod';
import { component, optional } from '../schema.js';
import { unsupported } from '../errors.js';

export const Balloon = component('Balloon', 'A virtio-balloon device. tkvm has none yet: every balloon endpoint answers 400.', z.strictObject({
  amount_mib: z.int().min(0),
  deflate_on_oom: z.boolean(),
  stats_polling_interval_s: optional(z.int().min(0)),
  free_page_hinting: optional(z.boolean()),
  free_page_reporting: optional(z.boolean()),
}));

export const BalloonUpdate = component('BalloonUpdate', 'A new balloon target. tkvm answers 400.', z.strictObject({ amount_mib: z.int().min(0) }));
export const BalloonStatsUpdate = component('BalloonStatsUpdate', 'A new statistics interval. tkvm answers 400.', z.strictObject({ stats_polling_interval_s: z.int().min(0) }));

export type BalloonBody = z.output<typeof Balloon>;

export function refuseBalloon(): never {
  throw unsupported('balloon devices yet');
}
