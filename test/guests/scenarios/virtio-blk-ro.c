/*
 * virtio-blk on a read-only disk (tkvm --disk PATH,ro): the device offers
 * VIRTIO_BLK_F_RO, a write completes with VIRTIO_BLK_S_IOERR and leaves the
 * data as it was, and reads still work.
 */
#include "runtime.h"
#include "virtio_blk.h"

static struct virtq vq __attribute__((aligned(4096)));
static uint8_t before[512] __attribute__((aligned(512)));
static uint8_t buf[512] __attribute__((aligned(512)));

int guest_main(struct boot_params *bp)
{
    (void)bp;
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_BLK_ID);
    virtio_pci_negotiate(&dev, 1ULL << VIRTIO_BLK_F_RO);
    if (!(dev.features & (1ULL << VIRTIO_BLK_F_RO)))
        guest_fail("virtio-blk-ro: device does not offer VIRTIO_BLK_F_RO (features 0x%lx)", dev.features);
    virtio_pci_enable_msix(&dev, 0);
    virtio_pci_setup_queue(&dev, &vq, 0, 0);
    virtio_pci_driver_ok(&dev);

    uint8_t s = virtio_blk_request(&vq, VIRTIO_BLK_T_IN, 0, before, sizeof before);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk-ro: read returned status %u", s);
    memset(buf, 0xa5, sizeof buf);
    s = virtio_blk_request(&vq, VIRTIO_BLK_T_OUT, 0, buf, sizeof buf);
    if (s != VIRTIO_BLK_S_IOERR)
        guest_fail("virtio-blk-ro: write returned status %u, expected IOERR (%u)", s, VIRTIO_BLK_S_IOERR);
    memset(buf, 0, sizeof buf);
    s = virtio_blk_request(&vq, VIRTIO_BLK_T_IN, 0, buf, sizeof buf);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk-ro: read after write returned status %u", s);
    if (memcmp(before, buf, sizeof buf) != 0)
        guest_fail("virtio-blk-ro: sector 0 changed after a refused write");
    if (virtio_wait_irq(0) == 0)
        guest_fail("virtio-blk-ro: no MSI-X interrupt arrived");
    guest_pass("virtio-blk-ro ok");
}
