import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import * as tun from './tun.js';

/** Prints the kernel headers' values, so the numbers in tun.ts are checked against the real ones. */
const HEADER_PROBE = `
#include <stdio.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
int main(void) {
  printf("TUNSETIFF %lu\\nTUNSETPERSIST %lu\\nTUNSETOFFLOAD %lu\\nTUNGETIFF %lu\\nTUNSETVNETHDRSZ %lu\\n",
         (unsigned long)TUNSETIFF, (unsigned long)TUNSETPERSIST, (unsigned long)TUNSETOFFLOAD,
         (unsigned long)TUNGETIFF, (unsigned long)TUNSETVNETHDRSZ);
  printf("IFF_TAP %d\\nIFF_NO_PI %d\\nIFF_VNET_HDR %d\\nTUN_F_CSUM %d\\nTUN_F_TSO4 %d\\nTUN_F_TSO6 %d\\n",
         IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6);
  printf("SIOCGIFFLAGS %d\\nSIOCSIFFLAGS %d\\nSIOCGIFINDEX %d\\nIFF_UP %d\\nIFNAMSIZ %d\\n",
         SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFINDEX, IFF_UP, IFNAMSIZ);
  printf("IFREQ_SIZE %zu\\nFLAGS_OFFSET %zu\\nINDEX_OFFSET %zu\\n", sizeof(struct ifreq),
         offsetof(struct ifreq, ifr_flags), offsetof(struct ifreq, ifr_ifindex));
  return 0;
}
`;

test('ioctl numbers, flags and the ifreq layout match the kernel headers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-tun-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.c'), HEADER_PROBE);
    execFileSync(process.env['CC'] || 'cc', ['-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')]);
    const values = new Map(execFileSync(path.join(dir, 'probe'), { encoding: 'utf8' }).trim().split('\n').map((line) => {
      const [name, value] = line.split(' ');
      return [name!, Number(value)] as const;
    }));
    const ours: Record<string, number> = {
      TUNSETIFF: tun.TUNSETIFF, TUNSETPERSIST: tun.TUNSETPERSIST, TUNSETOFFLOAD: tun.TUNSETOFFLOAD, TUNGETIFF: tun.TUNGETIFF,
      TUNSETVNETHDRSZ: tun.TUNSETVNETHDRSZ, IFF_TAP: tun.IFF_TAP, IFF_NO_PI: tun.IFF_NO_PI, IFF_VNET_HDR: tun.IFF_VNET_HDR,
      TUN_F_CSUM: tun.TUN_F_CSUM, TUN_F_TSO4: tun.TUN_F_TSO4, TUN_F_TSO6: tun.TUN_F_TSO6, SIOCGIFFLAGS: tun.SIOCGIFFLAGS,
      SIOCSIFFLAGS: tun.SIOCSIFFLAGS, SIOCGIFINDEX: tun.SIOCGIFINDEX, IFF_UP: tun.IFF_UP, IFNAMSIZ: tun.IFNAMSIZ,
      IFREQ_SIZE: tun.IFREQ_SIZE, FLAGS_OFFSET: 16, INDEX_OFFSET: 16,
    };
    for (const [name, value] of Object.entries(ours)) assert.equal(value, values.get(name), name);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.'.split(''));

test('ifreq encodes any valid name and flags and decodes them back', () => {
  fc.assert(fc.property(fc.array(nameChar, { minLength: 1, maxLength: 15 }).map((chars) => chars.join('')), fc.integer({ min: 0, max: 0xffff }), (name, flags) => {
    const ifreq = tun.encodeIfreq(name, (flags << 16) >> 16);
    assert.equal(ifreq.length, tun.IFREQ_SIZE);
    assert.equal(tun.ifreqName(ifreq), name);
    assert.equal(tun.ifreqFlags(ifreq), flags);
    assert.ok(ifreq.subarray(name.length, 16).every((b) => b === 0), 'name NUL-padded');
    assert.ok(ifreq.subarray(18).every((b) => b === 0), 'rest of the union zero');
    tun.setIfreqFlags(ifreq, flags ^ tun.IFF_UP);
    assert.equal(tun.ifreqFlags(ifreq), flags ^ tun.IFF_UP);
    assert.equal(tun.ifreqName(ifreq), name);
  }));
});

test('ifreq refuses names that do not fit; the kernel-filled name is read up to its NUL', () => {
  assert.throws(() => tun.encodeIfreq('a'.repeat(16)), RangeError);
  assert.throws(() => tun.encodeIfreq('a\0b'), RangeError);
  const ifreq = tun.encodeIfreq('tkvm%d', tun.IFF_TAP);
  ifreq.set(new TextEncoder().encode('tkvm12\0'), 0);
  assert.equal(tun.ifreqName(ifreq), 'tkvm12');
  const full = new Uint8Array(tun.IFREQ_SIZE).fill(0x61);
  assert.equal(tun.ifreqName(full), 'a'.repeat(16));
  new DataView(full.buffer).setInt32(16, 7, true);
  assert.equal(tun.ifreqIndex(full), 7);
});

test('interface names follow the kernel rule, without formats', () => {
  for (const good of ['tap0', 'tkvm-1', 'a', 'x'.repeat(15), 'br.10', 'eth_0']) assert.equal(tun.isValidInterfaceName(good), true, good);
  for (const bad of ['', '.', '..', 'x'.repeat(16), 'a/b', 'a:b', 'a b', 'tap%d', 'tab\t', 'ü', 'a\0']) assert.equal(tun.isValidInterfaceName(bad), false, JSON.stringify(bad));
});

test('offload bits: TSO only with CSUM', () => {
  assert.equal(tun.tunOffloadBits({ csum: false, tso4: false, tso6: false }), 0);
  assert.equal(tun.tunOffloadBits({ csum: false, tso4: true, tso6: true }), 0);
  assert.equal(tun.tunOffloadBits({ csum: true, tso4: false, tso6: false }), tun.TUN_F_CSUM);
  assert.equal(tun.tunOffloadBits({ csum: true, tso4: true, tso6: false }), tun.TUN_F_CSUM | tun.TUN_F_TSO4);
  assert.equal(tun.tunOffloadBits({ csum: true, tso4: true, tso6: true }), tun.TUN_F_CSUM | tun.TUN_F_TSO4 | tun.TUN_F_TSO6);
});
