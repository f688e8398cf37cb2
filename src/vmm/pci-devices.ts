/**
 * The PCI side of a VM: the root complex (0xCF8 config mechanism, ECAM,
 * the 32-bit BAR window) and one virtio-pci function per configured
 * device, each served by its own device thread (queues kicked through
 * ioeventfds, completions raised through MSI-X irqfds).
 */
import type { Vm } from '../kvm/vm.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { DeviceManager } from './device-manager.js';
import { PciRoot } from '../devices/pci/root.js';
import { BarAllocator } from '../devices/pci/bar-allocator.js';
import { KvmMsiRouting } from '../devices/pci/kvm-routing.js';
import { createEventFd } from '../devices/pci/eventfd.js';
import { SharedIrqLines } from '../devices/pci/irq-line.js';
import { PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_LENGTH, PCI_ECAM_BASE, PCI_ECAM_SIZE, intxIrqForSlot, HOST_BRIDGE_SLOT } from '../devices/pci/layout.js';
import { VirtioPciDevice } from '../devices/virtio/pci/transport.js';
import { ThreadedVirtioBackend, type ThreadedBackendOptions } from '../devices/virtio/pci/device-worker.js';
import type { VirtioDeviceSpec, VirtioDeviceUpdate } from '../devices/virtio/registry.js';
import { limitedLogger, type DeviceLogger } from '../devices/virtio/log.js';
import { IOAPIC_ADDR, LOCAL_APIC_ADDR, pcGsiRoutes } from '../arch/x86/acpi/index.js';
import * as sys from '../sys/libc.js';
import * as log from '../util/log.js';

export { PCI_ECAM_BASE };

/**
 * Imported by each device thread before it builds its device: it provides
 * the host backends (disk images) that devices/ may not import. The bundle
 * has it as an entry point of its own, next to this code (scripts/bundle.mjs).
 */
const VIRTIO_HOST_MODULE = new URL('./virtio-host.js', import.meta.url).href;

export interface VirtioFunction {
  /** The PCI slot on bus 0. */
  slot: number;
  spec: VirtioDeviceSpec;
  transport: VirtioPciDevice;
  backend: ThreadedVirtioBackend;
  vectorEventFds: number[];
}

/** Device errors become log lines for the operator, at most 100 per device (a hostile guest can cause many). */
const deviceLogger = (name: string): DeviceLogger => limitedLogger({ warn: (m: string) => log.warn(`${name}: ${m}`) }, name);

export class PciDevices {
  /** The in-kernel IOAPIC and local APICs are no place for a BAR (KVM decodes them first). */
  readonly root = new PciRoot({
    reserved: [
      { space: 'mem', base: IOAPIC_ADDR, size: 0x1000, name: 'IOAPIC' },
      { space: 'mem', base: LOCAL_APIC_ADDR, size: 0x10_0000, name: 'local APIC' },
    ],
  });
  readonly functions: VirtioFunction[] = [];
  readonly #vm: Vm;
  readonly #routing: KvmMsiRouting;
  readonly #bars: BarAllocator;
  /** INTx lines, one per IRQ, shared (ORed) by every function routed to it. */
  readonly #intxLines: SharedIrqLines;

  /** Registers the root complex on the buses; call before vCPUs start (they learn the MMIO ranges once). */
  constructor(vm: Vm, devices: DeviceManager, onResetRequest: () => void) {
    this.#vm = vm;
    devices.addPio(PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_LENGTH, 'pci config', this.root.configIo);
    devices.addMmio(PCI_ECAM_BASE, PCI_ECAM_SIZE, 'pci ecam', this.root.ecam);
    devices.addMmio(this.root.windowBase, this.root.windowSize, 'pci bars', this.root.mmioWindow);
    this.root.configIo.onResetRequest = onResetRequest;
    this.#routing = new KvmMsiRouting(vm, pcGsiRoutes());
    this.#bars = new BarAllocator(this.root.windowBase, this.root.windowSize);
    this.#intxLines = new SharedIrqLines((irq, level) => vm.setIrqLine(irq, level));
  }

  /**
   * Starts the device thread for `spec` and plugs a virtio-pci function for
   * it into the next slot, with BAR 0 assigned as firmware would.
   */
  async add(spec: VirtioDeviceSpec, memory: GuestMemory, devices: DeviceManager, streams: Pick<ThreadedBackendOptions, 'onOutput' | 'onInputRoom'> = {}): Promise<VirtioFunction> {
    const slot = HOST_BRIDGE_SLOT + 1 + this.functions.length;
    const backend = await ThreadedVirtioBackend.start(spec, memory.shareable(), {
      logger: deviceLogger(spec.type),
      hostModules: [VIRTIO_HOST_MODULE],
      ...streams,
    });
    const vectors = backend.queueMaxSizes.length + 1;
    const vectorEventFds = Array.from({ length: vectors }, () => createEventFd());
    const vm = this.#vm;
    const transport = new VirtioPciDevice({
      backend,
      name: backend.name,
      msi: { routing: this.#routing, gsis: this.#routing.allocateGsis(vectors), eventFds: vectorEventFds },
      queueEventFds: backend.queueEventFds,
      ioeventfds: {
        register: (addr, len, eventFd) => vm.ioeventfd({ eventFd, addr: BigInt(addr), len }),
        unregister: (addr, len, eventFd) => vm.ioeventfd({ eventFd, addr: BigInt(addr), len, deassign: true }),
      },
      intx: this.intxFor(slot),
      logger: deviceLogger(backend.name),
    });
    this.root.addDevice(transport, slot);
    transport.config.setBarAddress(0, this.#bars.allocate(transport.config.bar(0)!.size));
    devices.addStats({ name: backend.name, counters: () => ({ ...transport.counters, ...backend.counters() }) });
    const fn = { slot, spec, transport, backend, vectorEventFds };
    this.functions.push(fn);
    return fn;
  }

  /**
   * The INTx wiring of the function in `slot`: its legacy IRQ and its own
   * source on that IRQ's shared line, so functions that share the IRQ are
   * ORed (PCI 3.0 §2.2.6) instead of each setting the irqchip's line.
   */
  intxFor(slot: number): { irq: number; setLevel: (level: boolean) => void } {
    const source = this.#intxLines.source(intxIrqForSlot(slot));
    return { irq: source.irq, setLevel: (level) => source.set(level) };
  }

  /**
   * A host-side change to the running device of `fn` (a disk's new file).
   * The device thread applies it between queue services; then, in one
   * synchronous step on this thread (which serves every guest access to
   * the transport), the changed config bytes are stored and
   * config_generation moves, and the driver gets a configuration change
   * notification: the config MSI-X vector, or ISR bit 1 and INTx (virtio
   * 1.2 §4.1.4.3, §4.1.4.5). A driver that reads the generation around
   * its config reads (§2.5.1) never takes half of the change.
   */
  async update(fn: VirtioFunction, update: VirtioDeviceUpdate): Promise<void> {
    const patch = await fn.backend.update(update);
    fn.backend.publishConfig(patch);
    fn.transport.configChanged();
  }

  /** Removes ioeventfds and irqfds and stops the device threads; before the VM fd closes. */
  async close(): Promise<void> {
    for (const fn of this.functions) {
      try {
        await fn.transport.close();
      } catch (err) {
        log.warn(`${fn.backend.name}: close failed: ${(err as Error).message}`);
      }
      for (const fd of fn.vectorEventFds) sys.close(fd);
    }
    this.functions.length = 0;
  }
}
