/*
 * virtio-rng (entropy device, 1af4:1044) over PCI with MSI-X: reads 64
 * bytes twice and checks they are not all zero and not the same.
 */
#include "runtime.h"
#include "virtio_pci.h"

#define VIRTIO_RNG_ID 4

static struct virtq vq __attribute__((aligned(4096)));
static uint8_t a[64], b[64];

static void fill(uint8_t *buf)
{
    struct vq_buffer one = { buf, 64, 1 };
    vq_submit(&vq, &one, 1);
    uint32_t len = vq_wait(&vq);
    if (len == 0 || len > 64)
        guest_fail("virtio-rng: device wrote %u bytes into a 64-byte buffer", len);
}

int guest_main(struct boot_params *bp)
{
    (void)bp;
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_RNG_ID);
    virtio_pci_negotiate(&dev, 0);
    virtio_pci_enable_msix(&dev, 0);
    virtio_pci_setup_queue(&dev, &vq, 0, 0);
    virtio_pci_driver_ok(&dev);
    fill(a);
    fill(b);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero |= a[i] | b[i];
    if (!nonzero)
        guest_fail("virtio-rng: 128 bytes of zeroes");
    if (memcmp(a, b, sizeof a) == 0)
        guest_fail("virtio-rng: two reads returned the same bytes");
    if (virtio_wait_irq(0) == 0)
        guest_fail("virtio-rng: no MSI-X interrupt arrived");
    serial_printf("virtio-rng: %02x%02x%02x%02x...\n", a[0], a[1], a[2], a[3]);
    guest_pass("virtio-rng ok");
}
