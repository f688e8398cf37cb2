/**
 * Firecracker's token-bucket rate limiters (swagger: RateLimiter,
 * TokenBucket). tkvm has none: a limiter with a bucket is refused, an
 * absent or empty one is fine.
 */
import { z } from 'zod';
import { component, optional } from '../schema.js';
import { unsupported } from '../errors.js';

export const TokenBucket = component('TokenBucket', 'A token bucket: size tokens, refilled over refill_time ms, plus a one-time burst.', z.strictObject({
  size: z.int().min(0),
  one_time_burst: optional(z.int().min(0)),
  refill_time: z.int().min(0),
}));

export const RateLimiter = component('RateLimiter', 'Independent bytes/s (bandwidth) and ops/s limits. tkvm has no rate limiters: a bucket here is refused.', z.strictObject({
  bandwidth: optional(TokenBucket),
  ops: optional(TokenBucket),
}));

export type RateLimiterBody = z.output<typeof RateLimiter>;

/** Throws the "not supported" ApiError when `limiter` asks for any limit. */
export function refuseRateLimiter(limiter: RateLimiterBody | null | undefined, where: string): void {
  if (limiter && (limiter.bandwidth || limiter.ops)) throw unsupported(`rate limiters (${where})`);
}
