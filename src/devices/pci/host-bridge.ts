/**
 * The host bridge at 00:00.0 (class 0x060000). Operating systems look for
 * it when probing configuration mechanism #1 (Linux's pci_sanity_check
 * accepts a bus that has a host bridge), so bus 0 always has one. It has
 * no BARs and no interrupts; the identity is an Intel bridge, as Cloud
 * Hypervisor presents.
 */
import { PciConfigSpace } from './config-space.js';
import { PciClass } from './constants.js';
import type { PciDevice } from './device.js';

export const HOST_BRIDGE_VENDOR_ID = 0x8086;
export const HOST_BRIDGE_DEVICE_ID = 0x0d57;

export class PciHostBridge implements PciDevice {
  readonly name = 'host bridge';
  readonly config = new PciConfigSpace({
    vendorId: HOST_BRIDGE_VENDOR_ID,
    deviceId: HOST_BRIDGE_DEVICE_ID,
    classCode: PciClass.HOST_BRIDGE,
  });

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.config.write(offset, data);
  }

  readBar(_bar: number, _offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  writeBar(): void {}
}
