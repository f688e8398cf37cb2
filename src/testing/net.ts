/**
 * The host network framing for device tests: devices/ may not import
 * backends/ (the layer rule in eslint.config.js), but virtio-net's tests
 * drive the device over a real socket pair with passt's framing.
 */
export { StreamFraming } from '../backends/net/stream-framing.js';
