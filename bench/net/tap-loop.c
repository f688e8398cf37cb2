/*
 * bench/net's C side and host peer, on a TAP interface IFNAME (which the
 * harness creates in a network namespace of its own):
 *
 *   tap-loop tx IFNAME SIZE COUNT PASSES
 *       The baseline for the guest's TX: attaches to the TAP as tkvm does
 *       (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, TUNSETVNETHDRSZ 12) and
 *       writev()s COUNT test frames of SIZE bytes per pass, each behind a
 *       zeroed 12-byte virtio_net_hdr_v1, cycling through DEPTH buffers.
 *   tap-loop rx IFNAME SIZE COUNT PASSES
 *       The baseline for the guest's RX: a thread injects test frames into
 *       the TAP's kernel side through an AF_PACKET socket as fast as it
 *       can (the same injector as `inject`), and the main thread readv()s
 *       until it has COUNT test frames per pass.
 *   tap-loop inject IFNAME SIZE
 *       The host peer for the guest's RX: injects test frames until
 *       SIGTERM/SIGINT, then prints how many it sent.
 *   tap-loop capture IFNAME SIZE COUNT TIMEOUT_S
 *       The host peer for the guest's TX check: receives frames on the
 *       TAP's kernel side (AF_PACKET) and checks every byte of each test
 *       frame, until COUNT arrived or TIMEOUT_S passed.
 *
 * Test frames are those of test/guests/runtime/virtio_net.h: broadcast,
 * EtherType 0x88b5, source 02:74:6b:76:6d:01 (host) or ...:02 (guest),
 * an 8-byte little-endian sequence number, then byte j = j*7+1.
 *
 * Output, one line per pass (tx/rx), CLOCK_MONOTONIC:
 *   tap-loop pass P mode=M frames=N bytes=B ns=T
 * inject: "tap-loop inject frames=N"; capture: "tap-loop capture frames=N
 * bytes=B other=O first=F last=L". Exit status 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HDR_BYTES 12
#define ETHERTYPE 0x88b5
#define FRAME_HEADER_BYTES 22
#define MIN_FRAME 60
#define MAX_FRAME 65536
#define DEPTH 64
#define FRAME_BYTE(j) ((uint8_t)((j) * 7 + 1))

static const uint8_t GUEST_MAC[6] = { 0x02, 0x74, 0x6b, 0x76, 0x6d, 0x02 };
static const uint8_t HOST_MAC[6] = { 0x02, 0x74, 0x6b, 0x76, 0x6d, 0x01 };

static atomic_int stop_requested;

static void die(const char *what)
{
    fprintf(stderr, "tap-loop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t number(const char *text, const char *what, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end || end == text || value < min || value > max) {
        fprintf(stderr, "tap-loop: %s must be a number from %llu to %llu, got \"%s\"\n", what,
                (unsigned long long)min, (unsigned long long)max, text);
        exit(2);
    }
    return value;
}

/* A test frame of `size` bytes from `source` into `frame`, sequence number 0. */
static void build_frame(uint8_t *frame, size_t size, const uint8_t *source)
{
    memset(frame, 0xff, 6);
    memcpy(frame + 6, source, 6);
    frame[12] = ETHERTYPE >> 8;
    frame[13] = ETHERTYPE & 0xff;
    memset(frame + 14, 0, 8);
    for (size_t j = FRAME_HEADER_BYTES; j < size; j++)
        frame[j] = FRAME_BYTE(j);
}

static int is_test_frame(const uint8_t *frame, size_t len, const uint8_t *source)
{
    return len >= 14 && frame[12] == (ETHERTYPE >> 8) && frame[13] == (ETHERTYPE & 0xff) && memcmp(frame + 6, source, 6) == 0;
}

static uint64_t sequence(const uint8_t *frame)
{
    uint64_t seq;
    memcpy(&seq, frame + 14, 8);
    return seq;
}

static int open_tap(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF");
    int hdr = HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
        die("TUNSETVNETHDRSZ");
    if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
        die("TUNSETOFFLOAD");
    return fd;
}

/* An AF_PACKET socket on interface `name`: protocol 0 sends only, ETH_P_ALL also receives. */
static int open_packet(const char *name, int protocol)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(protocol));
    if (fd < 0)
        die("socket(AF_PACKET)");
    struct sockaddr_ll addr;
    memset(&addr, 0, sizeof addr);
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(protocol);
    addr.sll_ifindex = (int)if_nametoindex(name);
    if (addr.sll_ifindex == 0)
        die(name);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind(AF_PACKET)");
    int big = 64 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    return fd;
}

struct injector {
    const char *ifname;
    size_t size;
    uint64_t sent;
};

/* Sends numbered test frames into the TAP's kernel side until stop_requested. */
static void *inject(void *arg)
{
    struct injector *inj = arg;
    int fd = open_packet(inj->ifname, 0);
    uint8_t *frame = malloc(inj->size);
    if (!frame)
        die("malloc");
    build_frame(frame, inj->size, HOST_MAC);
    while (!atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
        memcpy(frame + 14, &inj->sent, 8);
        if (send(fd, frame, inj->size, 0) < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
                continue;
            die("send(AF_PACKET)");
        }
        inj->sent++;
    }
    free(frame);
    close(fd);
    return NULL;
}

static uint8_t *alloc_buffers(size_t size)
{
    uint8_t *buffers = aligned_alloc(4096, (size_t)DEPTH * ((HDR_BYTES + size + 4095) & ~(size_t)4095));
    if (!buffers)
        die("aligned_alloc");
    return buffers;
}

static void run_tx(const char *ifname, size_t size, uint64_t count, uint64_t passes)
{
    int fd = open_tap(ifname);
    size_t slot_bytes = (HDR_BYTES + size + 4095) & ~(size_t)4095;
    uint8_t *buffers = alloc_buffers(size);
    for (int s = 0; s < DEPTH; s++) {
        memset(buffers + s * slot_bytes, 0, HDR_BYTES);
        build_frame(buffers + s * slot_bytes + HDR_BYTES, size, GUEST_MAC);
    }
    uint64_t seq = 0;
    for (uint64_t pass = 1; pass <= passes; pass++) {
        uint64_t start = now_ns();
        for (uint64_t n = 0; n < count; n++, seq++) {
            uint8_t *buf = buffers + (n % DEPTH) * slot_bytes;
            memcpy(buf + HDR_BYTES + 14, &seq, 8);
            struct iovec iov = { buf, HDR_BYTES + size };
            if (writev(fd, &iov, 1) != (ssize_t)(HDR_BYTES + size))
                die("writev");
        }
        uint64_t ns = now_ns() - start;
        printf("tap-loop pass %llu mode=tx frames=%llu bytes=%llu ns=%llu\n", (unsigned long long)pass,
               (unsigned long long)count, (unsigned long long)(count * size), (unsigned long long)ns);
        fflush(stdout);
    }
    close(fd);
}

static void run_rx(const char *ifname, size_t size, uint64_t count, uint64_t passes)
{
    int fd = open_tap(ifname);
    size_t slot_bytes = (HDR_BYTES + size + 4095) & ~(size_t)4095;
    uint8_t *buffers = alloc_buffers(size);
    struct injector inj = { ifname, size, 0 };
    pthread_t thread;
    if (pthread_create(&thread, NULL, inject, &inj) != 0)
        die("pthread_create");
    uint64_t last = 0, any = 0, slot = 0;
    for (uint64_t pass = 1; pass <= passes; pass++) {
        uint64_t received = 0;
        uint64_t start = now_ns();
        while (received < count) {
            uint8_t *buf = buffers + (slot++ % DEPTH) * slot_bytes;
            struct iovec iov = { buf, HDR_BYTES + size };
            ssize_t n = readv(fd, &iov, 1);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                die("readv");
            }
            const uint8_t *frame = buf + HDR_BYTES;
            size_t len = (size_t)n - HDR_BYTES;
            if (n < HDR_BYTES || !is_test_frame(frame, len, HOST_MAC))
                continue;
            uint64_t seq = sequence(frame);
            if (len != size || frame[len - 1] != FRAME_BYTE(len - 1) || (any && seq <= last)) {
                fprintf(stderr, "tap-loop: rx: bad test frame (%zu bytes, sequence %llu after %llu)\n", len,
                        (unsigned long long)seq, (unsigned long long)last);
                exit(1);
            }
            last = seq;
            any = 1;
            received++;
        }
        uint64_t ns = now_ns() - start;
        printf("tap-loop pass %llu mode=rx frames=%llu bytes=%llu ns=%llu\n", (unsigned long long)pass,
               (unsigned long long)count, (unsigned long long)(count * size), (unsigned long long)ns);
        fflush(stdout);
    }
    atomic_store(&stop_requested, 1);
    pthread_join(thread, NULL);
    close(fd);
}

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&stop_requested, 1);
}

static void run_inject(const char *ifname, size_t size)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct injector inj = { ifname, size, 0 };
    printf("tap-loop inject ready\n");
    fflush(stdout);
    inject(&inj);
    printf("tap-loop inject frames=%llu\n", (unsigned long long)inj.sent);
}

static void run_capture(const char *ifname, size_t size, uint64_t count, uint64_t timeout_s)
{
    int fd = open_packet(ifname, ETH_P_ALL);
    uint8_t *frame = malloc(MAX_FRAME + 64);
    if (!frame)
        die("malloc");
    printf("tap-loop capture ready\n");
    fflush(stdout);
    uint64_t deadline = now_ns() + timeout_s * 1000000000ULL;
    uint64_t frames = 0, bytes = 0, other = 0, first = 0, last = 0;
    while (frames < count) {
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        if (ready < 0 && errno != EINTR)
            die("poll");
        if (ready <= 0)
            continue;
        ssize_t n = recv(fd, frame, MAX_FRAME + 64, MSG_TRUNC);
        if (n < 0)
            die("recv(AF_PACKET)");
        if (!is_test_frame(frame, (size_t)n, GUEST_MAC)) {
            other++;
            continue;
        }
        uint64_t seq = sequence(frame);
        if ((size_t)n != size) {
            fprintf(stderr, "tap-loop: capture: test frame %llu has %zd bytes, expected %zu\n", (unsigned long long)seq, n, size);
            exit(1);
        }
        for (size_t j = FRAME_HEADER_BYTES; j < size; j++) {
            if (frame[j] != FRAME_BYTE(j)) {
                fprintf(stderr, "tap-loop: capture: frame %llu byte %zu is 0x%x, expected 0x%x\n", (unsigned long long)seq, j, frame[j], FRAME_BYTE(j));
                exit(1);
            }
        }
        if (frames > 0 && seq != last + 1) {
            fprintf(stderr, "tap-loop: capture: frame %llu after %llu (lost or out of order)\n", (unsigned long long)seq, (unsigned long long)last);
            exit(1);
        }
        if (frames == 0)
            first = seq;
        last = seq;
        frames++;
        bytes += (uint64_t)n;
    }
    printf("tap-loop capture frames=%llu bytes=%llu other=%llu first=%llu last=%llu\n", (unsigned long long)frames,
           (unsigned long long)bytes, (unsigned long long)other, (unsigned long long)first, (unsigned long long)last);
    free(frame);
    close(fd);
    if (frames < count) {
        fprintf(stderr, "tap-loop: capture: %llu of %llu frames in %llu s\n", (unsigned long long)frames,
                (unsigned long long)count, (unsigned long long)timeout_s);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "inject") == 0 && argc == 4) {
        run_inject(argv[2], number(argv[3], "SIZE", MIN_FRAME, MAX_FRAME));
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "capture") == 0) {
        run_capture(argv[2], number(argv[3], "SIZE", MIN_FRAME, MAX_FRAME), number(argv[4], "COUNT", 1, 1ULL << 40),
                    number(argv[5], "TIMEOUT_S", 1, 3600));
        return 0;
    }
    if (argc == 6 && (strcmp(argv[1], "tx") == 0 || strcmp(argv[1], "rx") == 0)) {
        size_t size = number(argv[3], "SIZE", MIN_FRAME, MAX_FRAME);
        uint64_t count = number(argv[4], "COUNT", 1, 1ULL << 40);
        uint64_t passes = number(argv[5], "PASSES", 1, 16);
        if (argv[1][0] == 't')
            run_tx(argv[2], size, count, passes);
        else
            run_rx(argv[2], size, count, passes);
        return 0;
    }
    fprintf(stderr, "usage: tap-loop tx|rx IFNAME SIZE COUNT PASSES | inject IFNAME SIZE | capture IFNAME SIZE COUNT TIMEOUT_S\n");
    return 2;
}
