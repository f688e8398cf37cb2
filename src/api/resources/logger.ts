/**
 * The logger (Firecracker vmm_config/logger; swagger: Logger): tkvm's
 * operator log lines go to `log_path` at `level`. show_level,
 * show_log_origin and module are accepted and have no effect (tkvm's lines
 * always name their level; it has no per-module filter).
 */
import { constants, openSync } from 'node:fs';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { component, HostPath, optional } from '../schema.js';
import type { LogThreshold } from '../../util/log.js';

const LEVELS = ['Error', 'Warning', 'Info', 'Debug', 'Trace', 'Off'] as const;

export const Logger = component('Logger', 'Where and how much tkvm logs (pre-boot only).', z.strictObject({
  level: optional(z.string().refine((s) => LEVELS.some((l) => l.toLowerCase() === s.toLowerCase()), `must be one of ${LEVELS.join(', ')} (any case)`)),
  log_path: optional(HostPath).describe('An existing file or named pipe'),
  show_level: optional(z.boolean()),
  show_log_origin: optional(z.boolean()),
  module: optional(z.string()),
}));

export type LoggerBody = z.output<typeof Logger>;

/** Firecracker's level name (any case) as tkvm's threshold. */
export function logThreshold(level: string): LogThreshold {
  switch (level.toLowerCase()) {
    case 'error': return 'error';
    case 'warning': return 'warn';
    case 'info': return 'info';
    case 'off': return 'off';
    default: return 'debug'; // Debug, Trace
  }
}

/**
 * Opens an existing file or FIFO for appending, as Firecracker does (it
 * does not create it; O_NONBLOCK so a FIFO without a reader fails now
 * instead of hanging the VMM).
 */
export function openOutputFile(path: string, what: string): number {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK);
  } catch (err) {
    throw new ApiError('ERR_API_BAD_FILE', `${what} ${path} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
