import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MockDriver } from '../queue/mock-driver.js';
import type { DeviceRuntime } from '../runtime/device-runtime.js';
import { hasFeature } from '../types.js';
import { ConsoleConfigOffset, ConsoleFeature } from './device.js';
import {
  CONTROL_RECEIVE_QUEUE, CONTROL_SIZE, CONTROL_TRANSMIT_QUEUE, ControlEvent, portOfQueue, receiveQueueOf, transmitQueueOf, VirtioConsolePorts,
} from './ports.js';

interface Control { id: number; event: number; value: number; name?: string }

function control(id: number, event: number, value: number): Uint8Array {
  const b = new Uint8Array(CONTROL_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setUint16(4, event, true);
  v.setUint16(6, value, true);
  return b;
}

/** The device with a driver on every queue and a runtime whose kicks the test serves (as the device thread would). */
function setup(ports = ['p.in', 'p.out', 'p.err'], options: { maxPendingInput?: number } = {}) {
  const output: Array<{ port: number; text: string }> = [];
  let taken = 0;
  const kicks = new Set<number>();
  const runtime = { kickQueue: (q: number) => kicks.add(q), wake: () => {} } as unknown as DeviceRuntime;
  const dev = new VirtioConsolePorts({ ports, output: (port, b) => output.push({ port, text: Buffer.from(b).toString('latin1') }), inputTaken: (n) => { taken += n; }, ...options });
  dev.attachRuntime(runtime);
  const drivers: MockDriver[] = [];
  /** A fresh driver on every queue, as after a reset. */
  const activate = (): void => {
    drivers.splice(0, drivers.length, ...dev.queueMaxSizes.map(() => new MockDriver({ size: 16, eventIdx: true })));
    dev.activate(dev.features, drivers.map((d) => d.createQueue()));
  };
  activate();
  const serve = (): void => {
    for (let round = 0; kicks.size > 0 && round < 100; round++) {
      const queues = [...kicks];
      kicks.clear();
      for (const q of queues) dev.queueNotified(q);
    }
  };
  const cvq = (): MockDriver => drivers[CONTROL_RECEIVE_QUEUE]!;
  const buffers = new Map<number, number>();
  /** Posts control receive buffers (Linux posts page-sized ones). */
  const postControlBuffers = (n: number, len = 4096): void => {
    for (let i = 0; i < n; i++) {
      const { head, placed } = cvq().addChain([{ len, writable: true }]);
      buffers.set(head, placed[0]!.addr);
    }
  };
  /** What the device sent on the control receive queue since the last call. */
  const received = (): Control[] => cvq().takeUsed().map(({ id, len }) => {
    const bytes = cvq().read(buffers.get(id)!, len);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const message: Control = { id: v.getUint32(0, true), event: v.getUint16(4, true), value: v.getUint16(6, true) };
    if (len > CONTROL_SIZE) message.name = Buffer.from(bytes.subarray(CONTROL_SIZE)).toString('latin1');
    return message;
  });
  const send = (bytes: Uint8Array): void => {
    drivers[CONTROL_TRANSMIT_QUEUE]!.addChain([{ data: bytes, writable: false }]);
    dev.queueNotified(CONTROL_TRANSMIT_QUEUE);
    drivers[CONTROL_TRANSMIT_QUEUE]!.takeUsed();
    serve();
  };
  /** The Linux driver's start-up: DEVICE_READY, then PORT_READY for every DEVICE_ADD. */
  const handshake = (): Control[] => {
    postControlBuffers(12);
    send(control(0xffff_ffff, ControlEvent.DEVICE_READY, 1));
    const adds = received();
    for (const add of adds) send(control(add.id, ControlEvent.PORT_READY, 1));
    return [...adds, ...received()];
  };
  return { dev, drivers, activate, output, serve, send, received, postControlBuffers, handshake, taken: () => taken, kicks };
}

test('queue layout (§5.3.2): port 0 on 0/1, control on 2/3, port p on 2p+2/2p+3', () => {
  assert.deepEqual([receiveQueueOf(0), transmitQueueOf(0), receiveQueueOf(1), transmitQueueOf(1), receiveQueueOf(2)], [0, 1, 4, 5, 6]);
  assert.deepEqual(portOfQueue(5), { port: 1, transmit: true });
  assert.equal(portOfQueue(CONTROL_RECEIVE_QUEUE), null);
  const { dev } = setup();
  assert.equal(dev.queueMaxSizes.length, 8);
  assert.ok(hasFeature(dev.features, ConsoleFeature.MULTIPORT));
  const cfg = new Uint8Array(12);
  dev.readConfig(0, cfg);
  assert.equal(new DataView(cfg.buffer).getUint32(ConsoleConfigOffset.maxNrPorts, true), 3);
});

test('handshake: DEVICE_ADD per port, then PORT_OPEN before PORT_NAME for each', () => {
  const { handshake } = setup();
  const messages = handshake();
  assert.deepEqual(messages.slice(0, 3).map((m) => [m.id, m.event]), [[0, ControlEvent.DEVICE_ADD], [1, ControlEvent.DEVICE_ADD], [2, ControlEvent.DEVICE_ADD]]);
  assert.deepEqual(messages.slice(3), [
    { id: 0, event: ControlEvent.PORT_OPEN, value: 1 }, { id: 0, event: ControlEvent.PORT_NAME, value: 1, name: 'p.in' },
    { id: 1, event: ControlEvent.PORT_OPEN, value: 1 }, { id: 1, event: ControlEvent.PORT_NAME, value: 1, name: 'p.out' },
    { id: 2, event: ControlEvent.PORT_OPEN, value: 1 }, { id: 2, event: ControlEvent.PORT_NAME, value: 1, name: 'p.err' },
  ]);
});

test('guest output is handed over per port, bytes unchanged', () => {
  const { dev, drivers, output, handshake } = setup();
  handshake();
  const bytes = Buffer.from('a\nb\r\n\0\xff', 'latin1');
  drivers[transmitQueueOf(1)]!.addChain([{ data: bytes, writable: false }]);
  drivers[transmitQueueOf(2)]!.addChain([{ data: Buffer.from('err'), writable: false }]);
  assert.equal(dev.transmitIdle(), false);
  dev.queueNotified(transmitQueueOf(2));
  dev.queueNotified(transmitQueueOf(1));
  assert.deepEqual(output, [{ port: 2, text: 'err' }, { port: 1, text: 'a\nb\r\n\0\xff' }]);
  assert.equal(dev.transmitIdle(), true);
});

test('host input waits until the guest opens the port; after endInput the guest gets the bytes, then PORT_OPEN 0', () => {
  const { dev, drivers, serve, send, received, handshake, taken } = setup();
  handshake();
  const rx = drivers[receiveQueueOf(0)]!;
  const a = rx.addChain([{ len: 4, writable: true }]);
  const b = rx.addChain([{ len: 4, writable: true }]);
  dev.queueInput(0, Buffer.from('hello'));
  dev.endInput(0);
  serve();
  assert.deepEqual(rx.takeUsed(), [], 'Linux drops data on a port no guest process has open');
  assert.deepEqual(received(), [], 'input still pending: the host end stays open');
  send(control(0, ControlEvent.PORT_OPEN, 1));
  assert.deepEqual(rx.takeUsed(), [{ id: a.head, len: 4 }, { id: b.head, len: 1 }]);
  assert.equal(Buffer.from(rx.read(a.placed[0]!.addr, 4)).toString() + Buffer.from(rx.read(b.placed[0]!.addr, 1)).toString(), 'hello');
  assert.equal(taken(), 5);
  assert.deepEqual(received(), [{ id: 0, event: ControlEvent.PORT_OPEN, value: 0 }]);
  assert.equal(dev.hostOpen(0), false);
  assert.equal(dev.queueInput(0, Buffer.from('late')), false, 'no input after the end');
});

test('input that ends before the driver is ready: PORT_READY reports the host end closed', () => {
  const { dev, handshake } = setup();
  dev.endInput(0);
  const messages = handshake();
  assert.deepEqual(messages.find((m) => m.id === 0 && m.event === ControlEvent.PORT_OPEN), { id: 0, event: ControlEvent.PORT_OPEN, value: 0 });
  assert.deepEqual(messages.find((m) => m.id === 1 && m.event === ControlEvent.PORT_OPEN), { id: 1, event: ControlEvent.PORT_OPEN, value: 1 });
});

test('pending input is bounded per port; the excess is dropped and counted', () => {
  const { dev } = setup(['x'], { maxPendingInput: 4 });
  assert.equal(dev.queueInput(0, Buffer.from('abcdef')), false);
  assert.equal(dev.pendingInputBytes(0), 4);
  assert.equal(dev.counters.droppedInputBytes, 2);
});

test('a reset forgets the driver side (ready, open) but not the host side (ended input)', () => {
  const { dev, handshake, send, activate, drivers } = setup();
  handshake();
  send(control(0, ControlEvent.PORT_OPEN, 1));
  dev.endInput(0);
  dev.reset();
  assert.equal(dev.queueNotified(CONTROL_TRANSMIT_QUEUE).notify, false, 'no queues after reset');
  activate();
  const messages = handshake();
  assert.deepEqual(messages.filter((m) => m.event === ControlEvent.PORT_OPEN).map((m) => [m.id, m.value]), [[0, 0], [1, 1], [2, 1]]);
  // Nobody has the port open after the reset: input would wait.
  const { head } = drivers[receiveQueueOf(1)]!.addChain([{ len: 8, writable: true }]);
  dev.queueInput(1, Buffer.from('x'));
  dev.queueNotified(receiveQueueOf(1));
  assert.deepEqual(drivers[receiveQueueOf(1)]!.takeUsed(), []);
  send(control(1, ControlEvent.PORT_OPEN, 1));
  assert.deepEqual(drivers[receiveQueueOf(1)]!.takeUsed(), [{ id: head, len: 1 }]);
});

test('hostile control messages: bad ids, unknown events, short buffers and tiny receive buffers are counted, never fatal', () => {
  const { dev, send, received, postControlBuffers, drivers } = setup();
  send(control(7, ControlEvent.PORT_READY, 1));
  send(control(0xffff_ffff, ControlEvent.PORT_OPEN, 1));
  send(control(0, 99, 0));
  send(control(0, ControlEvent.DEVICE_READY, 0));
  send(new Uint8Array(3));
  assert.equal(dev.counters.controlErrors, 5);
  // A receive buffer too small for a message drops that message instead of stalling the queue.
  postControlBuffers(1, 4);
  send(control(0, ControlEvent.DEVICE_READY, 1));
  assert.deepEqual(drivers[CONTROL_RECEIVE_QUEUE]!.takeUsed().map((u) => u.len), [0]);
  assert.equal(dev.counters.controlErrors, 6);
  postControlBuffers(2);
  dev.queueNotified(CONTROL_RECEIVE_QUEUE); // the driver's kick for its new buffers
  assert.deepEqual(received().map((m) => [m.id, m.event]), [[1, ControlEvent.DEVICE_ADD], [2, ControlEvent.DEVICE_ADD]]);
  // A driver that never reads its control queue cannot make the device hold ever more messages.
  for (let i = 0; i < 200; i++) send(control(0, ControlEvent.DEVICE_READY, 1));
  assert.ok(dev.counters.controlErrors > 6);
  assert.equal(drivers.length, 8);
});

test('property: any sequence of driver control messages leaves the device consistent and bounded', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ id: fc.integer({ min: 0, max: 5 }), event: fc.integer({ min: 0, max: 9 }), value: fc.integer({ min: 0, max: 2 }) }), { maxLength: 60 }),
    (messages) => {
      const { send, received, postControlBuffers } = setup();
      postControlBuffers(8);
      for (const m of messages) send(control(m.id, m.event, m.value));
      for (const m of received()) {
        assert.ok(m.id < 3, 'the device only ever names its own ports');
        assert.ok(([ControlEvent.DEVICE_ADD, ControlEvent.PORT_OPEN, ControlEvent.PORT_NAME] as number[]).includes(m.event));
      }
    },
  ), { numRuns: 200 });
});
