/** virtio-net's registration (registry.ts): a NIC whose host side the VMM opens (passt, a TAP). */
import type { NetBackend } from '../../net.js';
import { TkvmError } from '../../../util/errors.js';
import { HostResource, openHostResource, registerVirtioDevice } from '../registry.js';
import { parseMac } from './config.js';
import { VirtioNet } from './device.js';

/** User-mode networking through passt (src/backends/net/passt.ts). */
export interface UserNetRequest {
  kind: 'user';
  /** The passt executable, found by the VMM before boot. */
  passt: string;
  /** Port forwards, as passt -t/-u specs (e.g. `127.0.0.1/8080:80`). */
  tcpForwards: string[];
  udpForwards: string[];
  /** False: give the guest no DNS servers and search list (tests: the guest must not use the host's resolvers). */
  dns: boolean;
}

/** A TAP device (src/backends/net/tap.ts): an existing one by name, or one tkvm creates. */
export interface TapNetRequest {
  kind: 'tap';
  ifname?: string;
}

export type NetBackendRequest = UserNetRequest | TapNetRequest;

export interface NetSpec {
  type: 'net';
  backend: NetBackendRequest;
  /** `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  mtu?: number;
  queueSize?: number;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { net: NetSpec }
}

/** The host side of a virtio-net device; vmm/virtio-host.ts opens it with backends/net. */
export const NET_BACKEND = new HostResource<NetBackendRequest, NetBackend>('network backends');

registerVirtioDevice('net', {
  name: (spec) => `virtio-net (${spec.backend.kind === 'user' ? 'user' : `tap${spec.backend.ifname ? ` ${spec.backend.ifname}` : ''}`} ${spec.mac})`,
  build(spec, hooks) {
    const mac = typeof spec.mac === 'string' ? parseMac(spec.mac) : null;
    if (!mac) throw new TkvmError('ERR_NET_MAC', `bad MAC address ${JSON.stringify(spec.mac)}`);
    const backend = openHostResource(NET_BACKEND, spec.backend);
    try {
      const net = new VirtioNet({
        backend, mac, logger: hooks.logger,
        ...(hooks.configChanged ? { configChanged: hooks.configChanged } : {}),
        ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}),
        ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
      });
      return {
        device: net, config: net.configSpace, console: null,
        close: () => {
          net.detach();
          backend.close();
        },
        counters: () => ({ ...net.counters }),
      };
    } catch (err) {
      backend.close();
      throw err;
    }
  },
});
