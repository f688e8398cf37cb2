/*
 * virtio-console port 0 without MULTIPORT (virtio 1.2 §5.3) on top of
 * virtio_pci.h: queue 0 (receiveq) carries host input to the guest, queue 1
 * (transmitq) guest output to the host. Polling only; both queues use
 * MSI-X vector 0.
 */
#ifndef TKVM_GUEST_VIRTIO_CONSOLE_H
#define TKVM_GUEST_VIRTIO_CONSOLE_H

#include <stdint.h>
#include "virtio_pci.h"

#define VIRTIO_CONSOLE_ID 3
#define VIRTIO_CONSOLE_RECEIVEQ 0
#define VIRTIO_CONSOLE_TRANSMITQ 1

/* Receive buffers kept posted on the receiveq, and the size of each. */
#define VIRTIO_CONSOLE_RX_BUFFERS 4
#define VIRTIO_CONSOLE_RX_BUFFER_BYTES 64

struct virtio_console {
    struct virtq txq;
    struct virtq rxq;
    uint8_t rx_buffers[VIRTIO_CONSOLE_RX_BUFFERS][VIRTIO_CONSOLE_RX_BUFFER_BYTES];
    struct virtio_pci pci;
    int receiving;     /* the receiveq is set up */
    uint32_t rx_bytes; /* bytes the device wrote into receive buffers so far */
    uint32_t rx_used;  /* receive buffers the device returned so far */
};

/*
 * Finds the device, negotiates VERSION_1 only, enables MSI-X and the
 * transmitq, plus the receiveq when `with_receiveq` (otherwise it stays
 * disabled), and sets DRIVER_OK. Fails the guest on any error.
 */
void virtio_console_open(struct virtio_console *con, int with_receiveq);

/* Sends `len` bytes on the transmitq and waits (bounded) until the device is done with them. */
void virtio_console_write(struct virtio_console *con, const void *bytes, uint32_t len);

/* Posts every receive buffer on the receiveq (call once, after open with a receiveq). */
void virtio_console_post_receive_buffers(struct virtio_console *con);

/*
 * Collects host input from the receiveq until a '\n' arrives, reposting each
 * buffer once its bytes are copied. Stores the line without its "\n" (and
 * without a "\r" before it), NUL-terminated, in `line` and returns its
 * length. Fails the guest when nothing ends the line within about
 * `timeout_seconds` (timed by the CMOS RTC, with a TSC backstop), when the
 * line does not fit `size`, or when the device returns a bad buffer id or
 * length. Bytes after the '\n' in the same buffer are dropped.
 */
uint32_t virtio_console_read_line(struct virtio_console *con, char *line, uint32_t size, unsigned timeout_seconds);

#endif
