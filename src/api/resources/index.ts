/** Every resource module, so that all their schemas are registered (schema.ts) before the OpenAPI document is made. */
export * from './actions.js';
export * from './balloon.js';
export * from './boot-source.js';
export * from './drives.js';
export * from './entropy.js';
export * from './full-config.js';
export * from './logger.js';
export * from './machine-config.js';
export * from './metrics.js';
export * from './network-interfaces.js';
export * from './rate-limiter.js';
export * from './snapshot.js';
export * from './vm-state.js';
export * from './vsock.js';
