/** The entropy device (Firecracker vmm_config/entropy.rs; swagger: EntropyDevice): tkvm's virtio-rng. */
import { z } from 'zod';
import { component, optional } from '../schema.js';
import { RateLimiter, refuseRateLimiter } from './rate-limiter.js';

export const EntropyDevice = component('EntropyDevice', 'A virtio-rng device fed from the host getrandom (pre-boot only).', z.strictObject({
  rate_limiter: optional(RateLimiter),
}));

export type EntropyBody = z.output<typeof EntropyDevice>;

export function acceptEntropy(body: EntropyBody): EntropyBody {
  refuseRateLimiter(body.rate_limiter, 'entropy device');
  return body;
}
