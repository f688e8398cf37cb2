/*
 * bench/blk's host baseline: the same requests the blk-bench guest makes,
 * done with pread(2)/pwrite(2) on the same image file (buffered I/O, no
 * O_DIRECT, one request at a time), so tkvm's whole virtio-blk path can be
 * compared with the system calls it ends in.
 *
 *   host-io MODE IMAGE BS COUNT PASSES SEED BUFFERS
 *
 * MODE is seqread, seqwrite or randread. Offsets are those of
 * test/guests/scenarios/blk-bench.c: sequential from 0, wrapping at the end
 * of the image; random ones BS-aligned from splitmix64(SEED), restarted each
 * pass. Like the guest, reads check the tag at the start of each request and
 * writes store a tag at the start of each 4 KiB block. Request n uses
 * buffer n % BUFFERS of BUFFERS x BS bytes: with BUFFERS = the guest's queue
 * depth, both sides move data through the same amount of memory (one small
 * buffer would stay in the CPU cache, which the guest's cannot).
 *
 * Prints one line per pass on stdout:
 *   {"hostIo":{"pass":P,"requests":N,"bytes":B,"ns":T,"tscTicks":K}}
 * T is CLOCK_MONOTONIC time around the pass, K the TSC ticks over the same
 * interval (x86 only, else 0), so the harness can turn the guest's RDTSC
 * counts into seconds. Exit status 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAG_BLOCK 4096u
#define TAG(offset) ((uint64_t)(offset) ^ 0x746b766d00000000ull)

enum mode { SEQ_READ, SEQ_WRITE, RAND_READ };

static uint64_t read_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#else
    return 0;
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64, as in the guest. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int fail(const char *fmt, const char *detail)
{
    fprintf(stderr, "host-io: ");
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    return 1;
}

static int parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return -1;
    *out = value;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 8)
        return fail("usage: host-io seqread|seqwrite|randread IMAGE BS COUNT PASSES SEED BUFFERS%s", "");
    enum mode mode;
    if (strcmp(argv[1], "seqread") == 0) mode = SEQ_READ;
    else if (strcmp(argv[1], "seqwrite") == 0) mode = SEQ_WRITE;
    else if (strcmp(argv[1], "randread") == 0) mode = RAND_READ;
    else return fail("unknown mode %s", argv[1]);
    uint64_t bs, count, passes, seed, buffers;
    if (parse_u64(argv[3], &bs) || bs == 0 || bs % TAG_BLOCK != 0 || bs > (1u << 20))
        return fail("BS must be a multiple of 4096 up to 1 MiB, got %s", argv[3]);
    if (parse_u64(argv[4], &count) || count == 0) return fail("bad COUNT %s", argv[4]);
    if (parse_u64(argv[5], &passes) || passes == 0) return fail("bad PASSES %s", argv[5]);
    if (parse_u64(argv[6], &seed)) return fail("bad SEED %s", argv[6]);
    if (parse_u64(argv[7], &buffers) || buffers == 0 || buffers > 1024) return fail("bad BUFFERS %s", argv[7]);

    int fd = open(argv[2], mode == SEQ_WRITE ? O_RDWR : O_RDONLY);
    if (fd < 0) return fail("cannot open %s", argv[2]);
    struct stat st;
    if (fstat(fd, &st) != 0) return fail("cannot stat %s", argv[2]);
    uint64_t blocks = (uint64_t)st.st_size / 512 * 512 / bs;
    if (blocks == 0) return fail("image %s is smaller than BS", argv[2]);
    uint8_t *buffer_area;
    if (posix_memalign((void **)&buffer_area, 4096, bs * buffers) != 0) return fail("out of memory%s", "");
    memset(buffer_area, 0xa5, bs * buffers);

    for (uint64_t pass = 1; pass <= passes; pass++) {
        uint64_t rng = seed;
        uint64_t start_ns = now_ns(), start_tsc = read_tsc();
        for (uint64_t n = 0; n < count; n++) {
            uint64_t offset = (mode == RAND_READ ? next_random(&rng) % blocks : n % blocks) * bs;
            uint8_t *buf = buffer_area + (n % buffers) * bs;
            ssize_t done;
            if (mode == SEQ_WRITE) {
                for (uint64_t at = 0; at < bs; at += TAG_BLOCK)
                    *(uint64_t *)(buf + at) = TAG(offset + at);
                done = pwrite(fd, buf, bs, (off_t)offset);
            } else {
                done = pread(fd, buf, bs, (off_t)offset);
            }
            if (done != (ssize_t)bs) {
                fprintf(stderr, "host-io: %s at offset %" PRIu64 " returned %zd (%s)\n",
                        mode == SEQ_WRITE ? "pwrite" : "pread", offset, done, done < 0 ? strerror(errno) : "short");
                return 1;
            }
            if (mode != SEQ_WRITE && *(uint64_t *)buf != TAG(offset)) {
                fprintf(stderr, "host-io: read at offset 0x%" PRIx64 " returned tag 0x%" PRIx64 " (is the image tagged?)\n",
                        offset, *(uint64_t *)buf);
                return 1;
            }
        }
        uint64_t ticks = read_tsc() - start_tsc, ns = now_ns() - start_ns;
        printf("{\"hostIo\":{\"pass\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"ns\":%" PRIu64 ",\"tscTicks\":%" PRIu64 "}}\n",
               pass, count, count * bs, ns, ticks);
        fflush(stdout);
    }
    free(buffer_area);
    close(fd);
    return 0;
}
