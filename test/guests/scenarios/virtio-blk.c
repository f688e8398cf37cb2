/*
 * virtio-blk over PCI with MSI-X: finds 1af4:1042 on bus 0, negotiates
 * VERSION_1 (+FLUSH), sets up queue 0 on MSI-X vector 0, writes 8 sectors
 * with a pattern, flushes, reads them back, checks GET_ID against
 * `serial=ID` from the command line (if given) and that interrupts came.
 * Options: sector=N (default 2).
 */
#include "runtime.h"
#include "virtio_blk.h"

#define SECTORS 8
#define BYTES (SECTORS * 512)

static struct virtq vq __attribute__((aligned(4096)));
static uint8_t out_buf[BYTES] __attribute__((aligned(4096)));
static uint8_t in_buf[BYTES] __attribute__((aligned(4096)));
static char id_buf[VIRTIO_BLK_ID_BYTES + 1];

int guest_main(struct boot_params *bp)
{
    uint64_t sector = 2;
    if (cmdline_get_u64(bp, "sector", &sector) < 0)
        guest_fail("virtio-blk: malformed sector=");
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_BLK_ID);
    uint64_t features = virtio_pci_negotiate(&dev, 1ULL << VIRTIO_BLK_F_FLUSH);
    uint64_t capacity = virtio_blk_capacity(&dev);
    serial_printf("virtio-blk: capacity %lu sectors, features 0x%lx\n", capacity, features);
    if (capacity < sector + SECTORS)
        guest_fail("virtio-blk: disk of %lu sectors is too small for sectors %lu..%lu", capacity, sector, sector + SECTORS - 1);
    if (dev.features & (1ULL << VIRTIO_BLK_F_RO))
        guest_fail("virtio-blk: device is read-only");
    virtio_pci_enable_msix(&dev, 0);
    virtio_pci_setup_queue(&dev, &vq, 0, 0);
    virtio_pci_driver_ok(&dev);

    for (int i = 0; i < BYTES; i++)
        out_buf[i] = (uint8_t)(i * 7 + 3 + (i >> 9));
    uint8_t s = virtio_blk_request(&vq, VIRTIO_BLK_T_OUT, sector, out_buf, BYTES);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk: write returned status %u", s);
    if (features & (1ULL << VIRTIO_BLK_F_FLUSH)) {
        s = virtio_blk_request(&vq, VIRTIO_BLK_T_FLUSH, 0, 0, 0);
        if (s != VIRTIO_BLK_S_OK)
            guest_fail("virtio-blk: flush returned status %u", s);
    }
    memset(in_buf, 0, BYTES);
    s = virtio_blk_request(&vq, VIRTIO_BLK_T_IN, sector, in_buf, BYTES);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk: read returned status %u", s);
    for (int i = 0; i < BYTES; i++) {
        if (in_buf[i] != out_buf[i])
            guest_fail("virtio-blk: byte %d of sector %lu reads 0x%02x, wrote 0x%02x", i % 512, sector + i / 512, in_buf[i], out_buf[i]);
    }
    memset(id_buf, 0, sizeof id_buf);
    s = virtio_blk_request(&vq, VIRTIO_BLK_T_GET_ID, 0, id_buf, VIRTIO_BLK_ID_BYTES);
    if (s != VIRTIO_BLK_S_OK)
        guest_fail("virtio-blk: GET_ID returned status %u", s);
    serial_printf("virtio-blk serial: %s\n", id_buf);
    const char *want = cmdline_get(bp, "serial");
    if (want) {
        size_t n = word_len(want);
        if (n > VIRTIO_BLK_ID_BYTES)
            n = VIRTIO_BLK_ID_BYTES;
        if (strncmp(id_buf, want, n) != 0 || (n < VIRTIO_BLK_ID_BYTES && id_buf[n] != 0)) {
            char expected[VIRTIO_BLK_ID_BYTES + 1];
            memcpy(expected, want, n);
            expected[n] = 0;
            guest_fail("virtio-blk: GET_ID returned \"%s\", expected \"%s\"", id_buf, expected);
        }
    }
    uint32_t irqs = virtio_wait_irq(0);
    if (irqs == 0)
        guest_fail("virtio-blk: no MSI-X interrupt arrived");
    serial_printf("virtio-blk: %u requests, %u interrupts\n", (features & (1ULL << VIRTIO_BLK_F_FLUSH)) ? 4u : 3u, irqs);
    guest_pass("virtio-blk ok");
}
