/* virtio-blk requests (virtio 1.2 §5.2.6) on top of virtio_pci.h. */
#ifndef TKVM_GUEST_VIRTIO_BLK_H
#define TKVM_GUEST_VIRTIO_BLK_H

#include <stdint.h>
#include "virtio_pci.h"

#define VIRTIO_BLK_ID 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20

/* One request, waited for; returns the status byte. `data` may be NULL for FLUSH. */
uint8_t virtio_blk_request(struct virtq *vq, uint32_t type, uint64_t sector, void *data, uint32_t len);

/* Capacity in 512-byte sectors from the device configuration. */
uint64_t virtio_blk_capacity(const struct virtio_pci *dev);

#endif
