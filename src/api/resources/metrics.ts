/**
 * Metrics (Firecracker vmm_config/metrics.rs; swagger: Metrics): one JSON
 * line of tkvm's counters is appended to `metrics_path` at every
 * FlushMetrics action and every 60 s while the VM runs. The line's fields
 * are tkvm's own (exits per vCPU by reason, device counters, host RSS), not
 * Firecracker's metric names.
 */
import { z } from 'zod';
import { component, HostPath } from '../schema.js';

export const Metrics = component('Metrics', 'Where tkvm appends its metrics lines (pre-boot only, once).', z.strictObject({
  metrics_path: HostPath.describe('An existing file or named pipe'),
}));

export type MetricsBody = z.output<typeof Metrics>;

/** Firecracker flushes metrics on this period. */
export const METRICS_PERIOD_MS = 60_000;
