/*
 * virtio-console (1af4:1043) over PCI with MSI-X: writes "console ok\n"
 * to the transmit queue (queue 1) of port 0; tkvm prints it on its
 * console output. Then reports on the serial port.
 */
#include "runtime.h"
#include "virtio_pci.h"

#define VIRTIO_CONSOLE_ID 3
#define TRANSMITQ 1

static struct virtq txq __attribute__((aligned(4096)));
static const char message[] = "console ok\n";

int guest_main(struct boot_params *bp)
{
    (void)bp;
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_CONSOLE_ID);
    virtio_pci_negotiate(&dev, 0);
    virtio_pci_enable_msix(&dev, 0);
    /* Queue 0 (receiveq) stays disabled: this guest only writes. */
    virtio_pci_setup_queue(&dev, &txq, TRANSMITQ, 0);
    virtio_pci_driver_ok(&dev);
    struct vq_buffer out = { message, sizeof message - 1, 0 };
    vq_submit(&txq, &out, 1);
    vq_wait(&txq);
    if (virtio_wait_irq(0) == 0)
        guest_fail("virtio-console: no MSI-X interrupt arrived");
    guest_pass("virtio-console ok");
}
