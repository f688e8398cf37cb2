/*
 * blk-bench (benchmark, bench/blk): virtio-blk throughput through tkvm's
 * whole device path, driven from ring 3 so that the driver runs at native
 * speed on a PVM host.
 *
 * Ring 0 only checks that the RAM it uses exists and drops to ring 3
 * (ring3.h). Ring 3 finds the virtio-blk device (1af4:1042), negotiates
 * VERSION_1 + FLUSH (without FLUSH the device would write through), sets up
 * queue 0 with up to 256 entries and no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT,
 * MSI-X left off), and keeps `depth` requests of `bs` bytes in flight: it
 * polls the used ring, refills each completed slot at once and kicks the
 * notify address only when the device has not set VIRTQ_USED_F_NO_NOTIFY
 * (virtio 1.2 §2.7.7, §2.7.10, §5.2.6).
 *
 * Options: mode=seqread|seqwrite|randread, bs=N (a multiple of 4096, at
 * most 1 MiB), count=N requests per pass, depth=N (1..64), passes=N (1..16),
 * seed=N (randread offsets). Sequential requests start at offset 0 and wrap
 * at the end of the disk; random ones are bs-aligned, from splitmix64(seed),
 * restarted each pass (bench/blk/host-io.c draws the same offsets).
 * mode=fault is a self-test of the ring-3 exception path (see ring3_fault).
 *
 * The disk image is tagged (bench/blk): every 4 KiB block starts with
 * TAG(offset); reads check the tag of the first block of each request,
 * writes store the tags of every block they write, so the image stays valid.
 *
 * Output per pass (the harness timestamps the begin/end lines):
 *   blk-bench begin P
 *   blk-bench end P
 *   blk-bench pass P requests=N bytes=B tsc=T kicks=K
 * then "blk-bench ok" (status 33). Any failed check: "FAIL: ..." (35).
 */
#include "runtime.h"
#include "ring3.h"
#include "virtio_blk.h"

/* Fixed RAM the benchmark uses above the image: ring-3 stack, then data buffers. */
#define STACK_BASE 0x00f00000UL
#define BUFFER_BASE 0x01000000UL
#define BUFFER_BYTES_MAX 0x01000000UL

#define QUEUE_SIZE_MAX 256
#define DEPTH_MAX 64
#define DESCRIPTORS_PER_REQUEST 3
#define BS_MAX (1UL << 20)
#define TAG_BLOCK 4096UL
#define TAG(offset) ((uint64_t)(offset) ^ (uint64_t)0x746b766d00000000UL)
#define SECTOR 512
/* Polls without any completion before the guest gives up (tens of seconds). */
#define STALL_POLLS 2000000000UL

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1


#define barrier() __asm__ volatile("" ::: "memory")

enum mode { SEQ_READ, SEQ_WRITE, RAND_READ };

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

/* The split virtqueue (§2.7), sized for the largest queue we use. */
static struct virtq_desc desc[QUEUE_SIZE_MAX] __attribute__((aligned(4096)));
static struct {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QUEUE_SIZE_MAX];
    uint16_t used_event;
} avail __attribute__((aligned(4096)));
static struct {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[QUEUE_SIZE_MAX];
    uint16_t avail_event;
} used __attribute__((aligned(4096)));

static struct blk_header headers[DEPTH_MAX] __attribute__((aligned(64)));
static volatile uint8_t statuses[DEPTH_MAX];
static uint64_t slot_offset[DEPTH_MAX];

struct bench {
    struct boot_params *bp;
    enum mode mode;
    uint64_t bs, count, depth, passes, seed;
    uint64_t capacity_bytes, blocks;
    uint16_t queue_size;
    uintptr_t notify_addr;
    uint64_t rng;
    uint64_t kicks;
};

static const char *mode_name(enum mode mode)
{
    return mode == SEQ_READ ? "seqread" : mode == SEQ_WRITE ? "seqwrite" : "randread";
}

/* splitmix64 (Steele, Lea, Flood 2014); host-io.c uses the same. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t option(struct boot_params *bp, const char *key, uint64_t fallback, uint64_t min, uint64_t max)
{
    uint64_t value = fallback;
    if (cmdline_get_u64(bp, key, &value) < 0 || value < min || value > max)
        guest_fail("blk-bench: %s= must be a number from %lu to %lu", key, min, max);
    return value;
}

/*
 * mode=fault (a self-test of the ring-3 setup): HLT in ring 3 raises a #GP
 * that is not port I/O, which must reach the runtime's reporter
 * ("FAIL: exception 13 ...", status 37), not end in a triple fault.
 */
NORETURN static void ring3_fault(void)
{
    serial_printf("blk-bench: hlt in ring 3\n");
    for (;;)
        __asm__ volatile("hlt");
}

static void parse_options(struct bench *b)
{
    const char *mode = cmdline_get(b->bp, "mode");
    size_t len = mode ? word_len(mode) : 0;
    if (mode && len == 7 && strncmp(mode, "seqread", 7) == 0)
        b->mode = SEQ_READ;
    else if (mode && len == 8 && strncmp(mode, "seqwrite", 8) == 0)
        b->mode = SEQ_WRITE;
    else if (mode && len == 8 && strncmp(mode, "randread", 8) == 0)
        b->mode = RAND_READ;
    else if (mode && len == 5 && strncmp(mode, "fault", 5) == 0)
        ring3_fault();
    else
        guest_fail("blk-bench: mode= must be seqread, seqwrite or randread");
    b->bs = option(b->bp, "bs", b->mode == RAND_READ ? 4096 : 65536, TAG_BLOCK, BS_MAX);
    if (b->bs % TAG_BLOCK != 0)
        guest_fail("blk-bench: bs=%lu is not a multiple of %lu", b->bs, TAG_BLOCK);
    b->count = option(b->bp, "count", 1024, 1, 1ULL << 40);
    b->depth = option(b->bp, "depth", 32, 1, DEPTH_MAX);
    b->passes = option(b->bp, "passes", 1, 1, 16);
    b->seed = option(b->bp, "seed", 1, 0, ~0ULL);
    if (b->depth * b->bs > BUFFER_BYTES_MAX)
        guest_fail("blk-bench: depth %lu x bs %lu exceeds the %lu buffer bytes", b->depth, b->bs, BUFFER_BYTES_MAX);
}

static void write64(uintptr_t addr, uint64_t value)
{
    mmio_write32(addr, (uint32_t)value);
    mmio_write32(addr + 4, (uint32_t)(value >> 32));
}

/* Queue 0 with as many entries as the device allows (up to 256), no MSI-X vector. */
static void setup_queue(struct bench *b, struct virtio_pci *dev)
{
    mmio_write16(dev->common + CFG_QUEUE_SELECT, 0);
    uint16_t max = mmio_read16(dev->common + CFG_QUEUE_SIZE);
    uint16_t size = max < QUEUE_SIZE_MAX ? max : QUEUE_SIZE_MAX;
    if (size == 0 || (size & (size - 1)) != 0)
        guest_fail("blk-bench: queue 0 offers %u entries, not a power of 2", max);
    if (size < b->depth * DESCRIPTORS_PER_REQUEST)
        guest_fail("blk-bench: queue of %u entries is too small for depth %lu", size, b->depth);
    b->queue_size = size;
    mmio_write16(dev->common + CFG_QUEUE_SIZE, size);
    mmio_write16(dev->common + CFG_QUEUE_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR);
    write64(dev->common + CFG_QUEUE_DESC, (uintptr_t)desc);
    write64(dev->common + CFG_QUEUE_DRIVER, (uintptr_t)&avail);
    write64(dev->common + CFG_QUEUE_DEVICE, (uintptr_t)&used);
    uint16_t notify_off = mmio_read16(dev->common + CFG_QUEUE_NOTIFY_OFF);
    b->notify_addr = dev->notify + (uintptr_t)notify_off * dev->notify_multiplier;
    /* Polling only: ask the device not to interrupt (§2.7.7). */
    avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    mmio_write16(dev->common + CFG_QUEUE_ENABLE, 1);
}

static uint8_t *slot_buffer(uint64_t slot, uint64_t bs)
{
    return (uint8_t *)(BUFFER_BASE + slot * bs);
}

/* Fixed chains: slot s is descriptors 3s (header), 3s+1 (data), 3s+2 (status). */
static void build_chains(const struct bench *b)
{
    int device_writes = b->mode != SEQ_WRITE;
    for (uint64_t s = 0; s < b->depth; s++) {
        struct virtq_desc *d = &desc[s * DESCRIPTORS_PER_REQUEST];
        d[0] = (struct virtq_desc){ (uintptr_t)&headers[s], sizeof headers[s], VIRTQ_DESC_F_NEXT, (uint16_t)(3 * s + 1) };
        d[1] = (struct virtq_desc){ (uintptr_t)slot_buffer(s, b->bs), (uint32_t)b->bs,
                                    (uint16_t)(VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0)), (uint16_t)(3 * s + 2) };
        d[2] = (struct virtq_desc){ (uintptr_t)&statuses[s], 1, VIRTQ_DESC_F_WRITE, 0 };
        headers[s].type = b->mode == SEQ_WRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        headers[s].reserved = 0;
    }
}

static uint64_t request_offset(struct bench *b, uint64_t n)
{
    if (b->mode == RAND_READ)
        return (next_random(&b->rng) % b->blocks) * b->bs;
    return (n % b->blocks) * b->bs;
}

/* Fills slot `s` for request number `n` and returns the head to publish. */
static uint16_t prepare(struct bench *b, uint64_t s, uint64_t n)
{
    uint64_t offset = request_offset(b, n);
    slot_offset[s] = offset;
    headers[s].sector = offset / SECTOR;
    statuses[s] = 0xff;
    if (b->mode == SEQ_WRITE) {
        uint8_t *buf = slot_buffer(s, b->bs);
        for (uint64_t at = 0; at < b->bs; at += TAG_BLOCK)
            *(uint64_t *)(buf + at) = TAG(offset + at);
    }
    return (uint16_t)(s * DESCRIPTORS_PER_REQUEST);
}

static void check_completion(const struct bench *b, const struct virtq_used_elem *e, uint64_t n)
{
    uint64_t s = e->id / DESCRIPTORS_PER_REQUEST;
    if (e->id % DESCRIPTORS_PER_REQUEST != 0 || s >= b->depth)
        guest_fail("blk-bench: completion %lu: used id %u is not a request head", n, e->id);
    uint32_t expected = b->mode == SEQ_WRITE ? 1 : (uint32_t)b->bs + 1;
    if (e->len != expected)
        guest_fail("blk-bench: request at offset 0x%lx: used length %u, expected %u", slot_offset[s], e->len, expected);
    if (statuses[s] != VIRTIO_BLK_S_OK)
        guest_fail("blk-bench: request at offset 0x%lx: status %u", slot_offset[s], statuses[s]);
    if (b->mode != SEQ_WRITE) {
        uint64_t tag = *(volatile uint64_t *)slot_buffer(s, b->bs);
        if (tag != TAG(slot_offset[s]))
            guest_fail("blk-bench: read at offset 0x%lx returned tag 0x%lx, expected 0x%lx (is the image tagged?)",
                       slot_offset[s], tag, TAG(slot_offset[s]));
    }
}

/* Publishes avail.idx and kicks unless the device is busy and said so (§2.7.13). */
static void publish(struct bench *b, uint16_t avail_idx)
{
    barrier(); /* ring entries before idx (x86 keeps stores in order) */
    *(volatile uint16_t *)&avail.idx = avail_idx;
    __asm__ volatile("mfence" ::: "memory"); /* idx visible before used.flags is read */
    if (!(*(volatile uint16_t *)&used.flags & VIRTQ_USED_F_NO_NOTIFY)) {
        mmio_write16(b->notify_addr, 0);
        b->kicks++;
    }
}

/* One pass: `count` requests, `depth` in flight. */
static void run_pass(struct bench *b)
{
    uint16_t mask = (uint16_t)(b->queue_size - 1);
    uint16_t avail_idx = *(volatile uint16_t *)&avail.idx;
    uint16_t last_used = *(volatile uint16_t *)&used.idx;
    uint64_t issued = 0, completed = 0;
    b->rng = b->seed;
    for (uint64_t s = 0; s < b->depth && issued < b->count; s++)
        avail.ring[avail_idx++ & mask] = prepare(b, s, issued++);
    publish(b, avail_idx);
    uint64_t idle = 0;
    while (completed < b->count) {
        uint16_t used_idx = *(volatile uint16_t *)&used.idx;
        if (used_idx == last_used) {
            if (++idle > STALL_POLLS)
                guest_fail("blk-bench: no completion for %lu polls (%lu of %lu done, used.idx %u, avail.idx %u)",
                           idle, completed, b->count, used_idx, avail_idx);
            __asm__ volatile("pause");
            continue;
        }
        idle = 0;
        barrier(); /* used entries after used.idx */
        uint16_t refilled = 0;
        while (last_used != used_idx) {
            const struct virtq_used_elem *e = &used.ring[last_used & mask];
            check_completion(b, e, completed);
            completed++;
            last_used++;
            if (issued < b->count) {
                avail.ring[avail_idx++ & mask] = prepare(b, e->id / DESCRIPTORS_PER_REQUEST, issued++);
                refilled++;
            }
        }
        if (refilled)
            publish(b, avail_idx);
    }
}

/* One short line in a single REP OUTSB: the begin/end markers the harness times. */
static void mark(const char *what, uint64_t pass)
{
    char line[64];
    int n = snprintf(line, sizeof line, "blk-bench %s %lu\n", what, pass);
    port_write_string(SERIAL_PORT, line, (size_t)n);
}

static int bench_main(void *arg)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    b.bp = arg;
    if (current_privilege_level() != 3)
        guest_fail("blk-bench: running at CPL %u, expected 3", current_privilege_level());
    parse_options(&b);
    struct virtio_pci dev;
    virtio_pci_open(&dev, VIRTIO_BLK_ID);
    uint64_t features = virtio_pci_negotiate(&dev, 1ULL << VIRTIO_BLK_F_FLUSH);
    if (b.mode == SEQ_WRITE && (dev.features & (1ULL << VIRTIO_BLK_F_RO)))
        guest_fail("blk-bench: seqwrite on a read-only disk");
    if (!(features & (1ULL << VIRTIO_BLK_F_FLUSH)))
        serial_printf("blk-bench: FLUSH not offered, the device writes through\n");
    b.capacity_bytes = virtio_blk_capacity(&dev) * SECTOR;
    b.blocks = b.capacity_bytes / b.bs;
    if (b.blocks == 0)
        guest_fail("blk-bench: disk of %lu bytes is smaller than bs=%lu", b.capacity_bytes, b.bs);
    setup_queue(&b, &dev);
    build_chains(&b);
    virtio_pci_driver_ok(&dev);
    serial_printf("blk-bench: cpl 3, mode %s, bs %lu, count %lu, depth %lu, passes %lu, disk %lu bytes, queue %u\n",
                  mode_name(b.mode), b.bs, b.count, b.depth, b.passes, b.capacity_bytes, b.queue_size);
    for (uint64_t pass = 1; pass <= b.passes; pass++) {
        b.kicks = 0;
        mark("begin", pass);
        uint64_t start = read_tsc();
        run_pass(&b);
        uint64_t ticks = read_tsc() - start;
        mark("end", pass);
        serial_printf("blk-bench pass %lu requests=%lu bytes=%lu tsc=%lu kicks=%lu\n", pass, b.count, b.count * b.bs, ticks, b.kicks);
    }
    guest_pass("blk-bench ok");
}

/* Ring 0 (emulated on PVM hosts): check the fixed RAM, then leave at once. */
int guest_main(struct boot_params *bp)
{
    if ((uintptr_t)__image_end > STACK_BASE)
        guest_fail("blk-bench: image ends at %p, past the stack at 0x%lx", (void *)__image_end, STACK_BASE);
    if (!e820_covers_ram(bp, STACK_BASE, BUFFER_BASE + BUFFER_BYTES_MAX))
        guest_fail("blk-bench: RAM 0x%lx-0x%lx is not usable (run with --mem 64M or more)", STACK_BASE, BUFFER_BASE + BUFFER_BYTES_MAX);
    ring3_run(bench_main, bp, (void *)BUFFER_BASE);
}
