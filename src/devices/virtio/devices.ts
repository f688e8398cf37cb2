/**
 * The virtio device kinds: one line per device folder, each of which
 * registers itself (registry.ts). Imported by the device thread and by the
 * main thread's side of it (pci/device-worker.ts), so both know every kind.
 */
import './9p/register.js';
import './blk/register.js';
import './console/register.js';
import './net/register.js';
import './rng/register.js';

export { buildVirtioDevice, specName, type VirtioDeviceSpec } from './registry.js';
