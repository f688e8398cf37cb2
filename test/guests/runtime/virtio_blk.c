/* virtio-blk request helper (virtio 1.2 §5.2.6: header, data, status byte). */
#include "runtime.h"
#include "virtio_blk.h"

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct blk_header header __attribute__((aligned(16)));
static volatile uint8_t status_byte;

uint8_t virtio_blk_request(struct virtq *vq, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status_byte = 0xff;
    struct vq_buffer bufs[3];
    int n = 0;
    bufs[n++] = (struct vq_buffer){ &header, sizeof header, 0 };
    if (data && len)
        bufs[n++] = (struct vq_buffer){ data, len, type != VIRTIO_BLK_T_OUT };
    bufs[n++] = (struct vq_buffer){ (const void *)&status_byte, 1, 1 };
    vq_submit(vq, bufs, n);
    vq_wait(vq);
    return status_byte;
}

uint64_t virtio_blk_capacity(const struct virtio_pci *dev)
{
    return (uint64_t)mmio_read32(dev->device_cfg) | ((uint64_t)mmio_read32(dev->device_cfg + 4) << 32);
}
