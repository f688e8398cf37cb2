/*
 * net-bench (bench/net, and the raw-frame test of virtio-net): sends and
 * receives raw Ethernet frames through virtio-net (virtio 1.2 §5.1),
 * driven from ring 3 so that the driver runs at native speed on a PVM host.
 *
 * Ring 0 only checks that the RAM it uses exists and drops to ring 3
 * (ring3.h). Ring 3 finds the virtio-net device (1af4:1041), negotiates
 * VERSION_1 (+ MAC, to print it) and nothing else: no MRG_RXBUF (so every
 * RX buffer holds one whole frame), no offloads, no EVENT_IDX. Queue 0 is
 * RX, queue 1 is TX (§5.1.2), each with up to 256 entries and no
 * interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT, MSI-X left off). Every buffer
 * is one descriptor: the 12-byte struct virtio_net_hdr_v1 (§5.1.6), zero
 * on TX, then the frame. The guest polls the used rings and kicks a queue
 * only when the device has not set VIRTQ_USED_F_NO_NOTIFY (§2.7.10).
 *
 * Frames are those of virtio_net.h (the host side, bench/net/tap-loop.c,
 * makes and checks the same): broadcast, EtherType 0x88b5, an 8-byte
 * sequence number, then a fixed byte pattern.
 *
 * Options: mode=tx|rx, size=N frame bytes (60..65536, without the virtio
 * header), count=N frames per pass, depth=N buffers in flight (1..128),
 * passes=N (1..16), verify=0|1 (rx: check every byte of every frame, not
 * only the header, the sequence number's plausibility and the last byte).
 *   tx: sends `count` frames numbered 0.. per pass (numbering continues
 *       across passes), each of `size` bytes.
 *   rx: posts `depth` buffers of 12 + size bytes and receives `count`
 *       test frames of `size` bytes per pass; frames that are not test
 *       frames (another EtherType or source) are counted as `other` and
 *       skipped; a test frame of the wrong size or content fails.
 *
 * Output per pass (the harness timestamps the begin/end lines):
 *   net-bench begin P
 *   net-bench end P
 *   net-bench pass P mode=M frames=N bytes=B tsc=T kicks=K other=O seq=FIRST..LAST
 * then "net-bench ok" (status 33). Any failed check: "FAIL: ..." (35).
 */
#include "runtime.h"
#include "ring3.h"
#include "virtio_pci.h"
#include "virtio_net.h"

/* Fixed RAM above the image: ring-3 stack, then the buffers (depth x slot bytes). */
#define STACK_BASE 0x00f00000UL
#define BUFFER_BASE 0x01000000UL
#define BUFFER_BYTES_MAX 0x02000000UL

#define QUEUE_SIZE_MAX 256
#define DEPTH_MAX 128
#define STALL_POLLS 4000000000UL

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

#define barrier() __asm__ volatile("" ::: "memory")

struct ring {
    struct virtq_desc desc[QUEUE_SIZE_MAX] __attribute__((aligned(4096)));
    struct {
        uint16_t flags;
        uint16_t idx;
        uint16_t ring[QUEUE_SIZE_MAX];
        uint16_t used_event;
    } avail __attribute__((aligned(4096)));
    struct {
        uint16_t flags;
        uint16_t idx;
        struct virtq_used_elem ring[QUEUE_SIZE_MAX];
        uint16_t avail_event;
    } used __attribute__((aligned(4096)));
    uint16_t size;
    uint16_t avail_idx;
    uint16_t last_used;
    uintptr_t notify_addr;
    uint64_t kicks;
};

static struct ring rxq, txq;

enum mode { MODE_TX, MODE_RX };

struct bench {
    struct boot_params *bp;
    enum mode mode;
    uint64_t size, count, depth, passes, verify;
    uint64_t slot_bytes;
    uint64_t next_seq;
    uint64_t other;
    uint64_t first_seq, last_seq;
};

static uint64_t option(struct boot_params *bp, const char *key, uint64_t fallback, uint64_t min, uint64_t max)
{
    uint64_t value = fallback;
    if (cmdline_get_u64(bp, key, &value) < 0 || value < min || value > max)
        guest_fail("net-bench: %s= must be a number from %lu to %lu", key, min, max);
    return value;
}

static void parse_options(struct bench *b)
{
    const char *mode = cmdline_get(b->bp, "mode");
    size_t len = mode ? word_len(mode) : 0;
    if (mode && len == 2 && strncmp(mode, "tx", 2) == 0)
        b->mode = MODE_TX;
    else if (mode && len == 2 && strncmp(mode, "rx", 2) == 0)
        b->mode = MODE_RX;
    else
        guest_fail("net-bench: mode= must be tx or rx");
    b->size = option(b->bp, "size", 1500, NET_FRAME_MIN_BYTES, NET_FRAME_MAX_BYTES);
    b->count = option(b->bp, "count", 1000, 1, 1ULL << 40);
    b->depth = option(b->bp, "depth", 64, 1, DEPTH_MAX);
    b->passes = option(b->bp, "passes", 1, 1, 16);
    b->verify = option(b->bp, "verify", 0, 0, 1);
    b->slot_bytes = (VIRTIO_NET_HDR_BYTES + b->size + 4095) & ~4095UL;
    if (b->depth * b->slot_bytes > BUFFER_BYTES_MAX)
        guest_fail("net-bench: depth %lu x %lu-byte buffers exceeds the %lu buffer bytes", b->depth, b->slot_bytes, BUFFER_BYTES_MAX);
}

static uint8_t *slot(const struct bench *b, uint64_t s)
{
    return (uint8_t *)(BUFFER_BASE + s * b->slot_bytes);
}

static void write64(uintptr_t addr, uint64_t value)
{
    mmio_write32(addr, (uint32_t)value);
    mmio_write32(addr + 4, (uint32_t)(value >> 32));
}

static void setup_queue(struct virtio_pci *dev, struct ring *q, unsigned index, uint64_t depth)
{
    mmio_write16(dev->common + CFG_QUEUE_SELECT, (uint16_t)index);
    uint16_t max = mmio_read16(dev->common + CFG_QUEUE_SIZE);
    uint16_t size = max < QUEUE_SIZE_MAX ? max : QUEUE_SIZE_MAX;
    if (size == 0 || (size & (size - 1)) != 0)
        guest_fail("net-bench: queue %u offers %u entries, not a power of 2", index, max);
    if (size < depth)
        guest_fail("net-bench: queue %u of %u entries is too small for depth %lu", index, size, depth);
    q->size = size;
    mmio_write16(dev->common + CFG_QUEUE_SIZE, size);
    mmio_write16(dev->common + CFG_QUEUE_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR);
    write64(dev->common + CFG_QUEUE_DESC, (uintptr_t)q->desc);
    write64(dev->common + CFG_QUEUE_DRIVER, (uintptr_t)&q->avail);
    write64(dev->common + CFG_QUEUE_DEVICE, (uintptr_t)&q->used);
    uint16_t notify_off = mmio_read16(dev->common + CFG_QUEUE_NOTIFY_OFF);
    q->notify_addr = dev->notify + (uintptr_t)notify_off * dev->notify_multiplier;
    q->avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    mmio_write16(dev->common + CFG_QUEUE_ENABLE, 1);
}

/* Publishes avail.idx and kicks unless the device said it is busy (§2.7.13). */
static void publish(struct ring *q, uint16_t queue_index)
{
    barrier();
    *(volatile uint16_t *)&q->avail.idx = q->avail_idx;
    __asm__ volatile("mfence" ::: "memory");
    if (!(*(volatile uint16_t *)&q->used.flags & VIRTQ_USED_F_NO_NOTIFY)) {
        mmio_write16(q->notify_addr, queue_index);
        q->kicks++;
    }
}

/* Writes the frame's fixed part into slot `s` once: header, addresses, EtherType, pattern. */
static void build_tx_slot(const struct bench *b, uint64_t s)
{
    uint8_t *buf = slot(b, s);
    memset(buf, 0, VIRTIO_NET_HDR_BYTES);
    uint8_t *frame = buf + VIRTIO_NET_HDR_BYTES;
    memset(frame, 0xff, 6);
    memcpy(frame + 6, NET_FRAME_GUEST_MAC, 6);
    frame[12] = NET_FRAME_ETHERTYPE >> 8;
    frame[13] = NET_FRAME_ETHERTYPE & 0xff;
    for (uint64_t j = NET_FRAME_HEADER_BYTES; j < b->size; j++)
        frame[j] = NET_FRAME_BYTE(j);
    txq.desc[s] = (struct virtq_desc){ (uintptr_t)buf, (uint32_t)(VIRTIO_NET_HDR_BYTES + b->size), 0, 0 };
}

static void stamp(const struct bench *b, uint64_t s, uint64_t seq)
{
    *(uint64_t *)(slot(b, s) + VIRTIO_NET_HDR_BYTES + 14) = seq;
}

static void stall(const char *what, uint64_t done, uint64_t count, const struct ring *q)
{
    guest_fail("net-bench: %s stalled: %lu of %lu frames done (used.idx %u, avail.idx %u)", what, done, count,
               *(volatile uint16_t *)&q->used.idx, q->avail_idx);
}

static void run_tx_pass(struct bench *b)
{
    uint16_t mask = (uint16_t)(txq.size - 1);
    uint64_t issued = 0, completed = 0, idle = 0;
    b->first_seq = b->next_seq;
    for (uint64_t s = 0; s < b->depth && issued < b->count; s++, issued++) {
        stamp(b, s, b->next_seq++);
        txq.avail.ring[txq.avail_idx++ & mask] = (uint16_t)s;
    }
    publish(&txq, VIRTIO_NET_TX_QUEUE);
    while (completed < b->count) {
        uint16_t used_idx = *(volatile uint16_t *)&txq.used.idx;
        if (used_idx == txq.last_used) {
            if (++idle > STALL_POLLS)
                stall("tx", completed, b->count, &txq);
            __asm__ volatile("pause");
            continue;
        }
        idle = 0;
        barrier();
        uint16_t refilled = 0;
        while (txq.last_used != used_idx) {
            uint32_t id = txq.used.ring[txq.last_used & mask].id;
            if (id >= b->depth)
                guest_fail("net-bench: tx used id %u is not a buffer of ours", id);
            txq.last_used++;
            completed++;
            if (issued < b->count) {
                stamp(b, id, b->next_seq++);
                txq.avail.ring[txq.avail_idx++ & mask] = (uint16_t)id;
                issued++;
                refilled++;
            }
        }
        if (refilled)
            publish(&txq, VIRTIO_NET_TX_QUEUE);
    }
    b->last_seq = b->next_seq - 1;
}

static void post_rx_slot(const struct bench *b, uint64_t s)
{
    rxq.desc[s] = (struct virtq_desc){ (uintptr_t)slot(b, s), (uint32_t)(VIRTIO_NET_HDR_BYTES + b->size), VIRTQ_DESC_F_WRITE, 0 };
    rxq.avail.ring[rxq.avail_idx++ & (rxq.size - 1)] = (uint16_t)s;
}

/* 1 if the frame in slot `s` (`len` bytes after the header) is a test frame from the host, 0 if it is other traffic. */
static int check_rx_frame(struct bench *b, uint64_t s, uint32_t len)
{
    const uint8_t *frame = slot(b, s) + VIRTIO_NET_HDR_BYTES;
    if (len < 14 || frame[12] != (NET_FRAME_ETHERTYPE >> 8) || frame[13] != (NET_FRAME_ETHERTYPE & 0xff) ||
        memcmp(frame + 6, NET_FRAME_HOST_MAC, 6) != 0)
        return 0;
    if (len != b->size)
        guest_fail("net-bench: rx test frame of %u bytes, expected %lu", len, b->size);
    uint64_t seq = *(const uint64_t *)(frame + 14);
    if (b->last_seq != ~0ULL && seq <= b->last_seq)
        guest_fail("net-bench: rx sequence %lu after %lu (frames out of order)", seq, b->last_seq);
    if (b->first_seq == ~0ULL)
        b->first_seq = seq;
    b->last_seq = seq;
    uint64_t from = b->verify ? NET_FRAME_HEADER_BYTES : len - 1;
    for (uint64_t j = from; j < len; j++)
        if (frame[j] != NET_FRAME_BYTE(j))
            guest_fail("net-bench: rx frame %lu byte %lu is 0x%x, expected 0x%x", seq, j, frame[j], NET_FRAME_BYTE(j));
    return 1;
}

static void run_rx_pass(struct bench *b)
{
    uint16_t mask = (uint16_t)(rxq.size - 1);
    uint64_t received = 0, idle = 0;
    b->first_seq = ~0ULL;
    while (received < b->count) {
        uint16_t used_idx = *(volatile uint16_t *)&rxq.used.idx;
        if (used_idx == rxq.last_used) {
            if (++idle > STALL_POLLS)
                stall("rx", received, b->count, &rxq);
            __asm__ volatile("pause");
            continue;
        }
        idle = 0;
        barrier();
        while (rxq.last_used != used_idx) {
            const struct virtq_used_elem *e = &rxq.used.ring[rxq.last_used & mask];
            rxq.last_used++;
            if (e->id >= b->depth)
                guest_fail("net-bench: rx used id %u is not a buffer of ours", e->id);
            if (e->len < VIRTIO_NET_HDR_BYTES || e->len > VIRTIO_NET_HDR_BYTES + b->size)
                guest_fail("net-bench: rx used length %u for a %lu-byte buffer", e->len, VIRTIO_NET_HDR_BYTES + b->size);
            if (check_rx_frame(b, e->id, e->len - VIRTIO_NET_HDR_BYTES))
                received++;
            else
                b->other++;
            post_rx_slot(b, e->id);
        }
        publish(&rxq, VIRTIO_NET_RX_QUEUE);
    }
}

static void mark(const char *what, uint64_t pass)
{
    char line[64];
    int n = snprintf(line, sizeof line, "net-bench %s %lu\n", what, pass);
    port_write_string(SERIAL_PORT, line, (size_t)n);
}

static int bench_main(void *arg)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    b.bp = arg;
    b.last_seq = ~0ULL;
    if (current_privilege_level() != 3)
        guest_fail("net-bench: running at CPL %u, expected 3", current_privilege_level());
    parse_options(&b);
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_NET_ID);
    uint64_t features = virtio_pci_negotiate(&dev, 1ULL << VIRTIO_NET_F_MAC);
    setup_queue(&dev, &rxq, VIRTIO_NET_RX_QUEUE, b.mode == MODE_RX ? b.depth : 1);
    setup_queue(&dev, &txq, VIRTIO_NET_TX_QUEUE, b.mode == MODE_TX ? b.depth : 1);
    if (b.mode == MODE_TX) {
        for (uint64_t s = 0; s < b.depth; s++)
            build_tx_slot(&b, s);
    }
    virtio_pci_driver_ok(&dev);
    if (b.mode == MODE_RX) {
        for (uint64_t s = 0; s < b.depth; s++)
            post_rx_slot(&b, s);
        publish(&rxq, VIRTIO_NET_RX_QUEUE);
    }
    uint8_t mac[6] = { 0 };
    if (features & (1ULL << VIRTIO_NET_F_MAC))
        for (int i = 0; i < 6; i++)
            mac[i] = mmio_read8(dev.device_cfg + (uintptr_t)i);
    serial_printf("net-bench: cpl 3, mode %s, size %lu, count %lu, depth %lu, passes %lu, queues %u/%u, mac %02x:%02x:%02x:%02x:%02x:%02x\n",
                  b.mode == MODE_TX ? "tx" : "rx", b.size, b.count, b.depth, b.passes, rxq.size, txq.size,
                  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    /* The harness starts its side (the peer that sends or counts) when it sees this line. */
    serial_printf("net-bench ready\n");
    for (uint64_t pass = 1; pass <= b.passes; pass++) {
        struct ring *q = b.mode == MODE_TX ? &txq : &rxq;
        q->kicks = 0;
        b.other = 0;
        mark("begin", pass);
        uint64_t start = read_tsc();
        if (b.mode == MODE_TX)
            run_tx_pass(&b);
        else
            run_rx_pass(&b);
        uint64_t ticks = read_tsc() - start;
        mark("end", pass);
        serial_printf("net-bench pass %lu mode=%s frames=%lu bytes=%lu tsc=%lu kicks=%lu other=%lu seq=%lu..%lu\n", pass,
                      b.mode == MODE_TX ? "tx" : "rx", b.count, b.count * b.size, ticks, q->kicks, b.other, b.first_seq, b.last_seq);
    }
    guest_pass("net-bench ok");
}

/* Ring 0 (emulated on PVM hosts): check the fixed RAM, then leave at once. */
int guest_main(struct boot_params *bp)
{
    if ((uintptr_t)__image_end > STACK_BASE)
        guest_fail("net-bench: image ends at %p, past the stack at 0x%lx", (void *)__image_end, STACK_BASE);
    if (!e820_covers_ram(bp, STACK_BASE, BUFFER_BASE + BUFFER_BYTES_MAX))
        guest_fail("net-bench: RAM 0x%lx-0x%lx is not usable (run with --mem 64M or more)", STACK_BASE, BUFFER_BASE + BUFFER_BYTES_MAX);
    ring3_run(bench_main, bp, (void *)BUFFER_BASE);
}
