/**
 * The host disk backend for device tests: devices/ may not import
 * backends/ (the layer rule in eslint.config.js), but their tests run
 * requests against real image files.
 */
export { RawDisk } from '../backends/disk/raw.js';
