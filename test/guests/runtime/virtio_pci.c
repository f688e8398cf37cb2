/*
 * Polling virtio-pci driver with MSI-X (virtio 1.2 §4.1; PCI 3.0 §6.8.2;
 * Intel SDM vol. 3 ch. 10 for the local APIC and the MSI address format).
 */
#include "runtime.h"
#include "pci.h"
#include "virtio_pci.h"

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

#define LAPIC_BASE 0xfee00000UL
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE 0x100

#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_CONTROL_FUNCTION_MASK 0x4000

/* Where an unassigned BAR 0 goes: the start of tkvm's PCI MMIO window. */
#define BAR_FALLBACK 0xc0000000UL
/* Polls before giving up on the device (each is a few emulated instructions). */
#define WAIT_SPINS 20000000UL

#define barrier() __asm__ volatile("" ::: "memory")

static volatile uint32_t irq_count;

struct interrupt_frame;

__attribute__((interrupt)) static void virtio_irq_handler(struct interrupt_frame *frame)
{
    (void)frame;
    irq_count++;
    mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

static struct idt_gate full_idt[256] __attribute__((aligned(16)));

/* Copies the runtime's exception gates into a 256-entry IDT and adds the MSI-X vector. */
static void install_irq_vector(void)
{
    struct descriptor_pointer current;
    __asm__ volatile("sidt %0" : "=m"(current));
    size_t bytes = (size_t)current.limit + 1;
    if (bytes > sizeof full_idt)
        bytes = sizeof full_idt;
    memcpy(full_idt, (const void *)current.base, bytes);
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint64_t handler = (uintptr_t)virtio_irq_handler;
    full_idt[VIRTIO_IRQ_VECTOR] = (struct idt_gate){
        .offset_low = (uint16_t)handler,
        .selector = cs,
        .type_attr = 0x8e,
        .offset_mid = (uint16_t)(handler >> 16),
        .offset_high = (uint32_t)(handler >> 32),
    };
    struct descriptor_pointer idtr = { sizeof full_idt - 1, (uintptr_t)full_idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

uint32_t virtio_irq_count(void)
{
    return irq_count;
}

uint32_t virtio_wait_irq(uint32_t seen)
{
    for (unsigned long i = 0; i < WAIT_SPINS && irq_count <= seen; i++)
        __asm__ volatile("pause");
    return irq_count;
}

void virtio_pci_open(struct virtio_pci *dev, unsigned device_id)
{
    memset(dev, 0, sizeof *dev);
    dev->slot = pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE(device_id));
    if (dev->slot < 0)
        guest_fail("no virtio device %04x:%04x on PCI bus 0", VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE(device_id));
    if (pci_read8(dev->slot, PCI_CLASS_REVISION) < 1)
        guest_fail("virtio device at slot %d has revision 0 (not modern)", dev->slot);
    dev->bar0 = pci_bar_address(dev->slot, 0, BAR_FALLBACK);
    pci_write16(dev->slot, PCI_COMMAND, pci_read16(dev->slot, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    if (!(pci_read16(dev->slot, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        guest_fail("virtio device has no capability list");
    int cap = pci_read8(dev->slot, PCI_CAPABILITY_LIST) & 0xfc;
    for (int guard = 0; cap != 0 && guard < 48; guard++) {
        uint8_t id = pci_read8(dev->slot, cap);
        if (id == PCI_CAP_ID_MSIX) {
            dev->msix_cap = (uint8_t)cap;
            uint32_t table = pci_read32(dev->slot, cap + 4);
            if ((table & 7) != 0)
                guest_fail("MSI-X table in BAR %u, expected BAR 0", table & 7);
            dev->msix_table = (uintptr_t)dev->bar0 + (table & ~7u);
        } else if (id == PCI_CAP_ID_VNDR) {
            uint8_t type = pci_read8(dev->slot, cap + 3);
            uint8_t bar = pci_read8(dev->slot, cap + 4);
            uintptr_t at = (uintptr_t)dev->bar0 + pci_read32(dev->slot, cap + 8);
            if (type >= CAP_COMMON && type <= CAP_DEVICE && bar != 0)
                guest_fail("virtio capability %u in BAR %u, expected BAR 0", type, bar);
            switch (type) {
            case CAP_COMMON: dev->common = at; break;
            case CAP_NOTIFY:
                dev->notify = at;
                dev->notify_multiplier = pci_read32(dev->slot, cap + 16);
                break;
            case CAP_ISR: dev->isr = at; break;
            case CAP_DEVICE: dev->device_cfg = at; break;
            default: break;
            }
        }
        cap = pci_read8(dev->slot, cap + 1) & 0xfc;
    }
    if (!dev->common || !dev->notify || !dev->isr || !dev->msix_cap)
        guest_fail("virtio device lacks a capability: common=%lx notify=%lx isr=%lx msix=%x",
                   (unsigned long)dev->common, (unsigned long)dev->notify, (unsigned long)dev->isr, dev->msix_cap);
    serial_printf("virtio-pci: %04x:%04x at slot %d, BAR0 0x%lx\n", VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE(device_id), dev->slot, dev->bar0);
}

uint8_t virtio_pci_status(struct virtio_pci *dev)
{
    return mmio_read8(dev->common + CFG_DEVICE_STATUS);
}

static void set_status(struct virtio_pci *dev, uint8_t status)
{
    mmio_write8(dev->common + CFG_DEVICE_STATUS, status);
}

uint64_t virtio_pci_negotiate(struct virtio_pci *dev, uint64_t wanted)
{
    set_status(dev, 0);
    if (virtio_pci_status(dev) != 0)
        guest_fail("virtio: status 0x%x after reset, expected 0", virtio_pci_status(dev));
    set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    mmio_write32(dev->common + CFG_DEVICE_FEATURE_SELECT, 0);
    uint64_t offered = mmio_read32(dev->common + CFG_DEVICE_FEATURE);
    mmio_write32(dev->common + CFG_DEVICE_FEATURE_SELECT, 1);
    offered |= (uint64_t)mmio_read32(dev->common + CFG_DEVICE_FEATURE) << 32;
    dev->features = offered;
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1)))
        guest_fail("virtio: device does not offer VERSION_1 (features 0x%lx)", offered);
    uint64_t accepted = offered & (wanted | (1ULL << VIRTIO_F_VERSION_1));
    mmio_write32(dev->common + CFG_DRIVER_FEATURE_SELECT, 0);
    mmio_write32(dev->common + CFG_DRIVER_FEATURE, (uint32_t)accepted);
    mmio_write32(dev->common + CFG_DRIVER_FEATURE_SELECT, 1);
    mmio_write32(dev->common + CFG_DRIVER_FEATURE, (uint32_t)(accepted >> 32));
    set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_pci_status(dev) & VIRTIO_STATUS_FEATURES_OK))
        guest_fail("virtio: device refused features 0x%lx (offered 0x%lx)", accepted, offered);
    return accepted;
}

void virtio_pci_enable_msix(struct virtio_pci *dev, unsigned vector)
{
    install_irq_vector();
    /* Mask both 8259s: only MSI-X interrupts are expected. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
    uint32_t apic_id = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
    uintptr_t entry = dev->msix_table + 16 * vector;
    mmio_write32(entry + 0, 0xfee00000u | (apic_id << 12));
    mmio_write32(entry + 4, 0);
    mmio_write32(entry + 8, VIRTIO_IRQ_VECTOR);
    mmio_write32(entry + 12, 0); /* unmask */
    uint16_t control = pci_read16(dev->slot, dev->msix_cap + 2);
    pci_write16(dev->slot, dev->msix_cap + 2, (uint16_t)((control | MSIX_CONTROL_ENABLE) & ~MSIX_CONTROL_FUNCTION_MASK));
    mmio_write16(dev->common + CFG_CONFIG_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR);
    __asm__ volatile("sti");
}

static void write64(uintptr_t addr, uint64_t value)
{
    mmio_write32(addr, (uint32_t)value);
    mmio_write32(addr + 4, (uint32_t)(value >> 32));
}

void virtio_pci_setup_queue(struct virtio_pci *dev, struct virtq *vq, unsigned index, unsigned vector)
{
    memset(vq, 0, sizeof *vq);
    vq->index = (uint16_t)index;
    mmio_write16(dev->common + CFG_QUEUE_SELECT, (uint16_t)index);
    uint16_t max = mmio_read16(dev->common + CFG_QUEUE_SIZE);
    if (max < VQ_SIZE)
        guest_fail("virtio: queue %u holds %u entries, need %u", index, max, VQ_SIZE);
    mmio_write16(dev->common + CFG_QUEUE_SIZE, VQ_SIZE);
    mmio_write16(dev->common + CFG_QUEUE_MSIX_VECTOR, (uint16_t)vector);
    if (mmio_read16(dev->common + CFG_QUEUE_MSIX_VECTOR) != vector)
        guest_fail("virtio: queue %u refused MSI-X vector %u", index, vector);
    write64(dev->common + CFG_QUEUE_DESC, (uintptr_t)vq->desc);
    write64(dev->common + CFG_QUEUE_DRIVER, (uintptr_t)&vq->avail);
    write64(dev->common + CFG_QUEUE_DEVICE, (uintptr_t)&vq->used);
    uint16_t notify_off = mmio_read16(dev->common + CFG_QUEUE_NOTIFY_OFF);
    vq->notify_addr = dev->notify + (uintptr_t)notify_off * dev->notify_multiplier;
    mmio_write16(dev->common + CFG_QUEUE_ENABLE, 1);
}

void virtio_pci_driver_ok(struct virtio_pci *dev)
{
    set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    uint8_t status = virtio_pci_status(dev);
    if (status != (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))
        guest_fail("virtio: status 0x%x after DRIVER_OK", status);
}

void vq_submit(struct virtq *vq, const struct vq_buffer *buffers, int n)
{
    for (int i = 0; i < n; i++) {
        vq->desc[i].addr = (uintptr_t)buffers[i].addr;
        vq->desc[i].len = buffers[i].len;
        vq->desc[i].flags = (uint16_t)((buffers[i].device_writes ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        vq->desc[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
    }
    vq->avail.ring[vq->avail.idx % VQ_SIZE] = 0;
    barrier(); /* ring entry before idx (x86 keeps stores in order) */
    vq->avail.idx++;
    __asm__ volatile("mfence" ::: "memory"); /* idx visible before reading used.flags */
    if (!(*(volatile uint16_t *)&vq->used.flags & 1))
        mmio_write16(vq->notify_addr, vq->index);
}

uint32_t vq_wait(struct virtq *vq)
{
    volatile uint16_t *used_idx = &vq->used.idx;
    for (unsigned long i = 0; i < WAIT_SPINS; i++) {
        if (*used_idx != vq->last_used) {
            barrier();
            struct virtq_used_elem *e = &vq->used.ring[vq->last_used % VQ_SIZE];
            vq->last_used++;
            if (e->id != 0)
                guest_fail("virtio: used id %u, expected 0", e->id);
            return e->len;
        }
        __asm__ volatile("pause");
    }
    guest_fail("virtio: queue %u: no used buffer (used.idx %u, avail.idx %u)", vq->index, *used_idx, vq->avail.idx);
}
