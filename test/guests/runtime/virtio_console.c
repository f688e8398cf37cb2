/*
 * virtio-console port 0 (virtio 1.2 §5.3.6): transmit through vq_submit,
 * receive through several single-descriptor buffers kept posted on the
 * receiveq (§2.7.13: each buffer is its own chain, head = descriptor i).
 */
#include "runtime.h"
#include "virtio_console.h"

/* MC146818 RTC: index port, data port, seconds register (never in update: tkvm's UIP reads 0). */
#define RTC_INDEX 0x70
#define RTC_DATA 0x71
#define RTC_SECONDS 0x00
/* Polls of the used ring between two looks at the RTC (each look is two port exits). */
#define POLLS_PER_CLOCK_CHECK 4096
/* Backstop if the RTC never ticks: TSC ticks per timeout second (>= 1 s at any TSC up to 4 GHz). */
#define TSC_TICKS_PER_SECOND_BOUND 4000000000ULL

#define VIRTQ_USED_F_NO_NOTIFY 1

#define barrier() __asm__ volatile("" ::: "memory")

void virtio_console_open(struct virtio_console *con, int with_receiveq)
{
    virtio_pci_open(&con->pci, VIRTIO_CONSOLE_ID);
    virtio_pci_negotiate(&con->pci, 0);
    virtio_pci_enable_msix(&con->pci, 0);
    if (with_receiveq)
        virtio_pci_setup_queue(&con->pci, &con->rxq, VIRTIO_CONSOLE_RECEIVEQ, 0);
    virtio_pci_setup_queue(&con->pci, &con->txq, VIRTIO_CONSOLE_TRANSMITQ, 0);
    virtio_pci_driver_ok(&con->pci);
    con->receiving = with_receiveq;
    con->rx_bytes = 0;
    con->rx_used = 0;
}

void virtio_console_write(struct virtio_console *con, const void *bytes, uint32_t len)
{
    struct vq_buffer out = { bytes, len, 0 };
    vq_submit(&con->txq, &out, 1);
    uint32_t written = vq_wait(&con->txq);
    if (written != 0)
        guest_fail("virtio-console: transmitq used length %u, expected 0 (device-readable buffer)", written);
}

/* Makes receive buffer `id` available again; the caller notifies. */
static void make_available(struct virtio_console *con, uint16_t id)
{
    struct virtq *vq = &con->rxq;
    vq->desc[id].addr = (uintptr_t)con->rx_buffers[id];
    vq->desc[id].len = VIRTIO_CONSOLE_RX_BUFFER_BYTES;
    vq->desc[id].flags = VIRTQ_DESC_F_WRITE;
    vq->desc[id].next = 0;
    vq->avail.ring[vq->avail.idx % VQ_SIZE] = id;
    barrier(); /* descriptor and ring entry before idx (x86 keeps stores in order) */
    vq->avail.idx++;
}

static void notify_receiveq(struct virtio_console *con)
{
    struct virtq *vq = &con->rxq;
    __asm__ volatile("mfence" ::: "memory"); /* avail.idx visible before reading used.flags */
    if (!(*(volatile uint16_t *)&vq->used.flags & VIRTQ_USED_F_NO_NOTIFY))
        mmio_write16(vq->notify_addr, vq->index);
}

void virtio_console_post_receive_buffers(struct virtio_console *con)
{
    if (!con->receiving)
        guest_fail("virtio-console: receive buffers posted without a receiveq");
    for (uint16_t id = 0; id < VIRTIO_CONSOLE_RX_BUFFERS; id++)
        make_available(con, id);
    notify_receiveq(con);
}

static uint8_t rtc_seconds(void)
{
    outb(RTC_INDEX, RTC_SECONDS);
    return inb(RTC_DATA);
}

static uint64_t rdtsc(void)
{
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t)high << 32) | low;
}

/*
 * Copies one used receive buffer into line[*length...]. Returns 1 once the
 * line is complete ('\n' seen).
 */
static int take_used(struct virtio_console *con, char *line, uint32_t size, uint32_t *length)
{
    struct virtq *vq = &con->rxq;
    struct virtq_used_elem e = vq->used.ring[vq->last_used % VQ_SIZE];
    vq->last_used++;
    if (e.id >= VIRTIO_CONSOLE_RX_BUFFERS)
        guest_fail("virtio-console: receiveq used id %u, only %u buffers were posted", e.id, VIRTIO_CONSOLE_RX_BUFFERS);
    if (e.len > VIRTIO_CONSOLE_RX_BUFFER_BYTES)
        guest_fail("virtio-console: receiveq used length %u exceeds the %u-byte buffer", e.len, VIRTIO_CONSOLE_RX_BUFFER_BYTES);
    con->rx_used++;
    con->rx_bytes += e.len;
    const uint8_t *bytes = con->rx_buffers[e.id];
    int complete = 0;
    for (uint32_t i = 0; i < e.len && !complete; i++) {
        if (bytes[i] == '\n') {
            complete = 1;
        } else if (*length + 1 < size) {
            line[(*length)++] = (char)bytes[i];
        } else {
            guest_fail("virtio-console: input line longer than %u bytes", size - 1);
        }
    }
    make_available(con, (uint16_t)e.id);
    notify_receiveq(con);
    return complete;
}

uint32_t virtio_console_read_line(struct virtio_console *con, char *line, uint32_t size, unsigned timeout_seconds)
{
    if (!con->receiving || size == 0)
        guest_fail("virtio-console: read_line needs a receiveq and room for the line");
    volatile uint16_t *used_idx = &con->rxq.used.idx;
    uint32_t length = 0;
    uint8_t last_second = rtc_seconds();
    unsigned ticks = 0;
    uint64_t tsc_start = rdtsc();
    uint64_t tsc_bound = (uint64_t)timeout_seconds * TSC_TICKS_PER_SECOND_BOUND;
    for (unsigned long polls = 1;; polls++) {
        if (*used_idx != con->rxq.last_used) {
            barrier(); /* used.idx before the used entry and the buffer (x86 keeps loads in order) */
            if (take_used(con, line, size, &length))
                break;
            continue;
        }
        __asm__ volatile("pause");
        if (polls % POLLS_PER_CLOCK_CHECK != 0)
            continue;
        uint8_t second = rtc_seconds();
        if (second != last_second) {
            last_second = second;
            ticks++;
        }
        /* The first tick may come at once, so wait for one more than asked. */
        if (ticks > timeout_seconds || rdtsc() - tsc_start > tsc_bound)
            guest_fail("virtio-console: no complete input line within %u s (%u bytes in %u buffers so far)",
                       timeout_seconds, con->rx_bytes, con->rx_used);
    }
    if (length > 0 && line[length - 1] == '\r')
        length--;
    line[length] = '\0';
    return length;
}
