/**
 * Samples every running VM for `tkvm top`: `info` from the directory scan,
 * then `stat` from each VM, all at once. A VM that does not answer `stat`
 * in time is still listed (with no rates) rather than holding up the rest.
 */
import { performance } from 'node:perf_hooks';
import { callVm, scanVms, type ClientOptions } from './client.js';
import type { VmSample } from './top-model.js';

/** How long one VM may take to answer before a refresh goes on without its stats. */
export const SAMPLE_TIMEOUT_MS = 800;

export async function sampleVms(options: ClientOptions = {}): Promise<VmSample[]> {
  const listings = await scanVms({ ...options, timeoutMs: options.timeoutMs ?? SAMPLE_TIMEOUT_MS });
  const running = listings.flatMap((l) => (l.status === 'running' ? [l.info] : []));
  return Promise.all(
    running.map(async (info) => {
      const stats = await callVm(info.name, 'stat', {}, { ...options, timeoutMs: options.timeoutMs ?? SAMPLE_TIMEOUT_MS }).catch(() => null);
      return { info, stats, atMs: performance.now() };
    }),
  );
}
