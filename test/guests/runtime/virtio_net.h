/* virtio-net (virtio 1.2 §5.1) definitions and the raw test frames the net guests and bench/net share. */
#ifndef TKVM_GUEST_VIRTIO_NET_H
#define TKVM_GUEST_VIRTIO_NET_H

#include <stdint.h>
#include <stddef.h>

#define VIRTIO_NET_ID 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_RX_QUEUE 0
#define VIRTIO_NET_TX_QUEUE 1

/* struct virtio_net_hdr_v1 (§5.1.6): 12 bytes before every frame on both queues with VERSION_1. */
struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
#define VIRTIO_NET_HDR_BYTES 12

/*
 * The test frames (also bench/net/tap-loop.c and bench/net/frames.ts):
 * broadcast destination, source MAC NET_FRAME_GUEST_MAC (guest to host)
 * or NET_FRAME_HOST_MAC (host to guest), EtherType 0x88b5 (IEEE 802
 * local experimental), then the frame's sequence number as 8 bytes
 * little-endian, then byte j of the frame (j >= 22) = NET_FRAME_BYTE(j).
 */
#define NET_FRAME_ETHERTYPE 0x88b5
#define NET_FRAME_HEADER_BYTES 22 /* 14 Ethernet + 8 sequence number */
#define NET_FRAME_MIN_BYTES 60
#define NET_FRAME_MAX_BYTES 65536
#define NET_FRAME_BYTE(j) ((uint8_t)((j) * 7 + 1))

static const uint8_t NET_FRAME_GUEST_MAC[6] = { 0x02, 0x74, 0x6b, 0x76, 0x6d, 0x02 };
static const uint8_t NET_FRAME_HOST_MAC[6] = { 0x02, 0x74, 0x6b, 0x76, 0x6d, 0x01 };

#endif
