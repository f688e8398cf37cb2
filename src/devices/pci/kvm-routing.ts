/**
 * MsiRouting on a KVM VM: keeps the whole GSI routing table (KVM replaces
 * it on every KVM_SET_GSI_ROUTING), starting from the irqchip routes KVM
 * installs by default, and hands out GSIs for MSI vectors from
 * MSI_GSI_BASE up.
 */
import type { GsiRoute } from '../../kvm/vm.js';
import { MSI_GSI_BASE } from './layout.js';
import type { MsiRouting } from './msix.js';

/** The parts of Vm this needs (src/kvm/vm.ts). */
export interface RoutingVm {
  setGsiRouting(routes: readonly GsiRoute[]): void;
  irqfd(eventFd: number, gsi: number, deassign?: boolean): void;
}

/** KVM_MAX_IRQ_ROUTES on current kernels. */
const MAX_ROUTES = 4096;

export class KvmMsiRouting implements MsiRouting {
  readonly #vm: RoutingVm;
  readonly #base: readonly GsiRoute[];
  readonly #msi = new Map<number, GsiRoute>();
  #nextGsi: number;
  #dirty = false;

  /** `baseRoutes`: the irqchip routes to keep (Vm.defaultIrqchipRoutes()). */
  constructor(vm: RoutingVm, baseRoutes: readonly GsiRoute[], firstGsi = MSI_GSI_BASE) {
    this.#vm = vm;
    this.#base = baseRoutes;
    this.#nextGsi = firstGsi;
  }

  /** Reserves `count` consecutive GSIs for MSI vectors. */
  allocateGsis(count: number): number[] {
    if (this.#nextGsi + count > MAX_ROUTES) throw new RangeError(`out of GSIs for ${count} MSI vectors`);
    const gsis = Array.from({ length: count }, (_, i) => this.#nextGsi + i);
    this.#nextGsi += count;
    return gsis;
  }

  setMsiRoute(gsi: number, addressLo: number, addressHi: number, data: number): void {
    this.#msi.set(gsi, { gsi, type: 'msi', addressLo: addressLo >>> 0, addressHi: addressHi >>> 0, data: data >>> 0 });
    this.#dirty = true;
  }

  removeRoute(gsi: number): void {
    if (this.#msi.delete(gsi)) this.#dirty = true;
  }

  commit(): void {
    if (!this.#dirty) return;
    this.#vm.setGsiRouting([...this.#base, ...[...this.#msi.values()].sort((a, b) => a.gsi - b.gsi)]);
    this.#dirty = false;
  }

  bindIrqfd(gsi: number, eventFd: number): void {
    this.#vm.irqfd(eventFd, gsi, false);
  }

  unbindIrqfd(gsi: number, eventFd: number): void {
    this.#vm.irqfd(eventFd, gsi, true);
  }

  /** The table as last committed (for tests and debugging). */
  routes(): GsiRoute[] {
    return [...this.#base, ...this.#msi.values()];
  }
}
