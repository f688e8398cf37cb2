/*
 * A small polling virtio-pci driver for the test guests (virtio 1.2 §4.1,
 * §2.7 split queues, §3.1.1 initialization) with MSI-X interrupts counted
 * by an IDT handler. Driver state lives in plain memory and the request
 * path (vq_submit, vq_wait) only touches the rings and the notify address,
 * so it could run in ring 3 as well.
 */
#ifndef TKVM_GUEST_VIRTIO_PCI_H
#define TKVM_GUEST_VIRTIO_PCI_H

#include <stdint.h>

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE(id) (0x1040 + (id))

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_MSI_NO_VECTOR 0xffff

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

/* Queue size the guests use (the device must offer at least this much). */
#define VQ_SIZE 16
/* The IDT vector MSI-X vector 0 is programmed to deliver. */
#define VIRTIO_IRQ_VECTOR 0x40

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[VQ_SIZE];
    uint16_t used_event;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[VQ_SIZE];
    uint16_t avail_event;
};

struct virtq {
    struct virtq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
    struct virtq_avail avail __attribute__((aligned(4)));
    struct virtq_used used __attribute__((aligned(4096)));
    uint16_t index;
    uint16_t last_used;
    uintptr_t notify_addr;
};

struct virtio_pci {
    int slot;
    uint64_t bar0;
    uintptr_t common;
    uintptr_t notify;
    uint32_t notify_multiplier;
    uintptr_t isr;
    uintptr_t device_cfg;
    uintptr_t msix_table;
    uint8_t msix_cap;
    uint64_t features; /* what the device offered */
};

struct vq_buffer {
    const void *addr;
    uint32_t len;
    int device_writes;
};

/* Finds 1af4:(0x1040 + device_id), maps BAR 0 and locates the virtio structures. Fails the guest if absent. */
void virtio_pci_open(struct virtio_pci *dev, unsigned device_id);

/* Reset, ACKNOWLEDGE, DRIVER, features (offered & wanted, VERSION_1 required), FEATURES_OK and its check. */
uint64_t virtio_pci_negotiate(struct virtio_pci *dev, uint64_t wanted);

/* Enables the LAPIC, installs the interrupt handler, masks the PIC, programs MSI-X vector `vector`, enables MSI-X and interrupts. */
void virtio_pci_enable_msix(struct virtio_pci *dev, unsigned vector);

/* Programs queue `index` (size VQ_SIZE, MSI-X `vector`) and enables it. */
void virtio_pci_setup_queue(struct virtio_pci *dev, struct virtq *vq, unsigned index, unsigned vector);

void virtio_pci_driver_ok(struct virtio_pci *dev);

uint8_t virtio_pci_status(struct virtio_pci *dev);

/* Places one chain (descriptors 0..n-1, readable ones first) and notifies the device. */
void vq_submit(struct virtq *vq, const struct vq_buffer *buffers, int n);

/* Waits (bounded) for the next used entry; returns its length, fails the guest on timeout. */
uint32_t vq_wait(struct virtq *vq);

/* MSI-X interrupts taken so far. */
uint32_t virtio_irq_count(void);

/* Waits (bounded) until more than `seen` interrupts arrived; returns the count. */
uint32_t virtio_wait_irq(uint32_t seen);

/* struct virtio_pci_common_cfg offsets (virtio 1.2 §4.1.4.3). */
#define CFG_DEVICE_FEATURE_SELECT 0x00
#define CFG_DEVICE_FEATURE 0x04
#define CFG_DRIVER_FEATURE_SELECT 0x08
#define CFG_DRIVER_FEATURE 0x0c
#define CFG_CONFIG_MSIX_VECTOR 0x10
#define CFG_DEVICE_STATUS 0x14
#define CFG_CONFIG_GENERATION 0x15
#define CFG_QUEUE_SELECT 0x16
#define CFG_QUEUE_SIZE 0x18
#define CFG_QUEUE_MSIX_VECTOR 0x1a
#define CFG_QUEUE_ENABLE 0x1c
#define CFG_QUEUE_NOTIFY_OFF 0x1e
#define CFG_QUEUE_DESC 0x20
#define CFG_QUEUE_DRIVER 0x28
#define CFG_QUEUE_DEVICE 0x30

#endif
