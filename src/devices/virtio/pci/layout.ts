/**
 * The modern virtio-pci transport's constants (virtio 1.2 §4.1) and where
 * tkvm places each structure in the device's single memory BAR.
 *
 *   BAR 0 (32 KiB, 32-bit memory, or 64-bit on request)
 *   0x0000  common configuration (struct virtio_pci_common_cfg)
 *   0x1000  ISR status (1 byte, read to clear)
 *   0x2000  device-specific configuration
 *   0x3000  queue notify addresses: queue N at 0x3000 + 4 * N
 *   0x4000  MSI-X vector table (up to 256 vectors)
 *   0x5000  MSI-X Pending Bit Array
 */

/** PCI IDs (§4.1.2): vendor 0x1AF4, device 0x1040 + virtio device ID, revision 1 (modern only). */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;
export const VIRTIO_PCI_REVISION = 1;
/** §4.1.2.1: a non-transitional device's subsystem device ID is 0x40 or higher. */
export const VIRTIO_PCI_SUBSYSTEM_ID = 0x40;

/** virtio_pci_cap.cfg_type (§4.1.4). */
export const VirtioPciCapType = {
  COMMON: 1,
  NOTIFY: 2,
  ISR: 3,
  DEVICE: 4,
  PCI_CFG: 5,
} as const;

/** Byte offsets in struct virtio_pci_common_cfg (§4.1.4.3). */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: 0x00,
  DEVICE_FEATURE: 0x04,
  DRIVER_FEATURE_SELECT: 0x08,
  DRIVER_FEATURE: 0x0c,
  CONFIG_MSIX_VECTOR: 0x10,
  NUM_QUEUES: 0x12,
  DEVICE_STATUS: 0x14,
  CONFIG_GENERATION: 0x15,
  QUEUE_SELECT: 0x16,
  QUEUE_SIZE: 0x18,
  QUEUE_MSIX_VECTOR: 0x1a,
  QUEUE_ENABLE: 0x1c,
  QUEUE_NOTIFY_OFF: 0x1e,
  QUEUE_DESC: 0x20,
  QUEUE_DRIVER: 0x28,
  QUEUE_DEVICE: 0x30,
  QUEUE_NOTIF_CONFIG_DATA: 0x38,
  QUEUE_RESET: 0x3a,
} as const;
export const COMMON_CFG_LENGTH = 0x3c;

/** "No vector" for config_msix_vector / queue_msix_vector (§4.1.5.1.2). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** ISR status bits (§4.1.4.5). */
export const ISR_QUEUE = 0x1;
export const ISR_CONFIG = 0x2;

export const VIRTIO_BAR_INDEX = 0;
export const VIRTIO_BAR_SIZE = 0x8000;
export const COMMON_CFG_OFFSET = 0x0000;
export const ISR_OFFSET = 0x1000;
export const ISR_LENGTH = 1;
export const DEVICE_CFG_OFFSET = 0x2000;
export const DEVICE_CFG_LENGTH = 0x1000;
export const NOTIFY_OFFSET = 0x3000;
export const NOTIFY_LENGTH = 0x1000;
/** Each queue gets its own 4-byte notify address (queue_notify_off = queue index). */
export const NOTIFY_OFF_MULTIPLIER = 4;
export const MSIX_TABLE_OFFSET = 0x4000;
export const MSIX_PBA_OFFSET = 0x5000;
/** The table area holds 256 vectors of 16 bytes. */
export const MAX_MSIX_VECTORS = 256;
/** Most queues a device may have: the notify area holds 1024 addresses, MSI-X 255 queue vectors. */
export const MAX_QUEUES = MAX_MSIX_VECTORS - 1;

/** Guest-physical notify address of `queue` for a BAR at `barAddress`. */
export function notifyAddress(barAddress: number, queue: number): number {
  return barAddress + NOTIFY_OFFSET + NOTIFY_OFF_MULTIPLIER * queue;
}
