/**
 * The module that provides host backends (disk images) to device threads,
 * for device tests that start them without the VMM (ThreadedBackendOptions.hostModules).
 */
export const VIRTIO_HOST_MODULES = [new URL('../vmm/virtio-host.js', import.meta.url).href];
