/*
 * A virtio-blk disk that changes under the running driver (Firecracker's
 * PATCH /drives/{id}): the configuration change interrupt goes to MSI-X
 * vector 0 (queue 0 is polled and has no vector), and capacity is read
 * between two reads of config_generation until both agree (virtio 1.2
 * §2.5.1, §4.1.4.3, §5.2.4). Prints the first capacity, then
 * "waiting for a config change" and halts until the interrupt; then the
 * new capacity, which must come with a new generation, and the first 8
 * bytes of the new disk's first and last sectors. A first disk of 0
 * sectors (a placeholder) must fail a read with IOERR.
 */
#include "runtime.h"
#include "virtio_blk.h"

static struct virtq vq __attribute__((aligned(4096)));
static uint8_t sector_buf[512] __attribute__((aligned(512)));

/* Capacity under an unchanged generation; fails the guest if it never settles. */
static uint64_t stable_capacity(struct virtio_pci *dev, uint8_t *generation)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        uint8_t before = mmio_read8(dev->common + CFG_CONFIG_GENERATION);
        uint64_t capacity = virtio_blk_capacity(dev);
        uint8_t after = mmio_read8(dev->common + CFG_CONFIG_GENERATION);
        if (before == after) {
            *generation = after;
            return capacity;
        }
    }
    guest_fail("virtio-blk-resize: config_generation kept changing");
}

/* Prints the first 8 bytes of `sector` as text (non-printable bytes as '.'). */
static void print_sector(uint64_t sector)
{
    memset(sector_buf, 0, sizeof sector_buf);
    uint8_t s = virtio_blk_request(&vq, VIRTIO_BLK_T_IN, sector, sector_buf, sizeof sector_buf);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk-resize: reading sector %lu returned status %u", sector, s);
    char text[9];
    for (int i = 0; i < 8; i++)
        text[i] = (sector_buf[i] >= 0x20 && sector_buf[i] < 0x7f) ? (char)sector_buf[i] : '.';
    text[8] = 0;
    serial_printf("virtio-blk-resize: sector %lu: %s\n", sector, text);
}

/* Halts with interrupts on until more than `seen` interrupts came (sti; hlt cannot miss one). */
static uint32_t wait_for_interrupt(uint32_t seen)
{
    for (;;) {
        __asm__ volatile("cli");
        if (virtio_irq_count() > seen)
            break;
        __asm__ volatile("sti; hlt" ::: "memory");
    }
    __asm__ volatile("sti");
    return virtio_irq_count();
}

int guest_main(struct boot_params *bp)
{
    (void)bp;
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_BLK_ID);
    virtio_pci_negotiate(&dev, 0);
    virtio_pci_enable_msix(&dev, 0);
    mmio_write16(dev.common + CFG_CONFIG_MSIX_VECTOR, 0);
    if (mmio_read16(dev.common + CFG_CONFIG_MSIX_VECTOR) != 0)
        guest_fail("virtio-blk-resize: the device refused MSI-X vector 0 for config changes");
    virtio_pci_setup_queue(&dev, &vq, 0, VIRTIO_MSI_NO_VECTOR);
    virtio_pci_driver_ok(&dev);

    uint8_t generation;
    uint64_t capacity = stable_capacity(&dev, &generation);
    serial_printf("virtio-blk-resize: capacity %lu generation %u\n", capacity, generation);
    if (capacity == 0) {
        uint8_t s = virtio_blk_request(&vq, VIRTIO_BLK_T_IN, 0, sector_buf, sizeof sector_buf);
        if (s != VIRTIO_BLK_S_IOERR)
            guest_fail("virtio-blk-resize: reading sector 0 of an empty disk returned status %u, expected IOERR", s);
    } else {
        print_sector(0);
    }
    serial_puts("virtio-blk-resize: waiting for a config change\n");
    uint32_t interrupts = wait_for_interrupt(0);

    uint8_t new_generation;
    uint64_t new_capacity = stable_capacity(&dev, &new_generation);
    serial_printf("virtio-blk-resize: capacity %lu generation %u after %u interrupts\n", new_capacity, new_generation, interrupts);
    if (new_generation == generation)
        guest_fail("virtio-blk-resize: config_generation stayed %u across the change", generation);
    if (new_capacity == 0)
        guest_fail("virtio-blk-resize: the new disk has no sectors");
    print_sector(0);
    print_sector(new_capacity - 1);
    guest_pass("virtio-blk-resize ok");
}
