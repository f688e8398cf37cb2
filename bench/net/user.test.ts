import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { guestScript, guestSeconds, startSink } from './user.js';

test('net-user sink: counts one connection\'s bytes, times them, and answers with the count', async () => {
  const sink = await startSink(3 << 20);
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(sink.port, '127.0.0.1', () => {
        for (let i = 0; i < 3; i++) socket.write(Buffer.alloc(1 << 20));
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => { text += d; });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(reply, `sink-got=${3 << 20}\n`);
    const result = await sink.result;
    assert.equal(result.bytes, 3 << 20);
    assert.ok(result.seconds >= 0 && result.seconds < 10);
  } finally {
    sink.close();
  }
});

test('net-user guest script: sends to the gateway only, and its timing line parses', () => {
  const script = guestScript(4321, 8);
  assert.match(script, /dd if=\/dev\/zero bs=1048576 count=8 2>\/dev\/null \| nc "\$3" 4321/);
  assert.match(script, /^set -- \$\(ip route show default\)/);
  assert.equal(guestSeconds('x\nguest-seconds=10.50 12.75\n'), 2.25);
  assert.equal(guestSeconds('nothing'), null);
});
