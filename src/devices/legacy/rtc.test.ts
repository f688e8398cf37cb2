import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CmosRtc } from './rtc.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

function makeRtc(startMs: number, memBytes = 512 * MIB) {
  let now = startMs;
  const rtc = new CmosRtc({ memBytes, now: () => now });
  const read = (index: number): number => {
    rtc.write(0, Uint8Array.of(index));
    const d = new Uint8Array(1);
    rtc.read(1, d);
    return d[0]!;
  };
  const write = (index: number, value: number): void => {
    rtc.write(0, Uint8Array.of(index));
    rtc.write(1, Uint8Array.of(value));
  };
  return {
    rtc,
    read,
    write,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** Thursday 29 February 2024, 13:45:07.250 UTC. */
const LEAP_DAY = Date.UTC(2024, 1, 29, 13, 45, 7, 250);

test('defaults: BCD, 24-hour time from the injected clock', () => {
  const r = makeRtc(LEAP_DAY);
  assert.equal(r.read(0x0b), 0x02);
  assert.deepEqual(
    [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(r.read),
    [0x07, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20],
  );
});

test('binary mode (status B bit 2)', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x0b, 0x06);
  assert.deepEqual([0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(r.read), [7, 45, 13, 5, 29, 2, 24, 20]);
});

test('12-hour mode sets bit 7 for PM and shows midnight as 12', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x0b, 0x00);
  assert.equal(r.read(0x04), 0x81);
  const midnight = makeRtc(Date.UTC(2024, 0, 1, 0, 30));
  midnight.write(0x0b, 0x00);
  assert.equal(midnight.read(0x04), 0x12);
});

test('the clock advances with the host clock', () => {
  const r = makeRtc(LEAP_DAY);
  r.advance(53_000);
  assert.equal(r.read(0x00), 0x00);
  assert.equal(r.read(0x02), 0x46);
});

test('status registers: UIP never set, C reads 0, D reports valid RAM and time', () => {
  const r = makeRtc(LEAP_DAY);
  assert.equal(r.read(0x0a), 0x26);
  r.write(0x0a, 0xa6);
  assert.equal(r.read(0x0a) & 0x80, 0, 'UIP is read-only and clear');
  assert.equal(r.read(0x0c), 0x00);
  assert.equal(r.read(0x0d), 0x80);
  r.write(0x0d, 0x00);
  assert.equal(r.read(0x0d), 0x80);
});

test('port 0x70 bit 7 (NMI mask) does not change the selected register', () => {
  const r = makeRtc(LEAP_DAY);
  assert.equal(r.read(0x80 | 0x00), 0x07);
  assert.equal(r.read(0x80 | 0x0d), 0x80);
});

test('CMOS RAM bytes round-trip', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x40, 0x5a);
  r.write(0x7f, 0xa5);
  assert.equal(r.read(0x40), 0x5a);
  assert.equal(r.read(0x7f), 0xa5);
});

test('memory size bytes for 512 MiB', () => {
  const r = makeRtc(LEAP_DAY, 512 * MIB);
  const word = (i: number) => r.read(i) | (r.read(i + 1) << 8);
  assert.equal(word(0x15), 640);
  assert.equal(word(0x17), 0xffff, 'extended memory KiB saturates');
  assert.equal(word(0x30), 0xffff);
  assert.equal(word(0x34), (512 - 16) * 16);
  assert.deepEqual([0x5b, 0x5c, 0x5d].map(r.read), [0, 0, 0]);
});

test('memory size bytes for 6 GiB split at the 3 GiB hole', () => {
  const r = makeRtc(LEAP_DAY, 6 * GIB);
  const word = (i: number) => r.read(i) | (r.read(i + 1) << 8);
  assert.equal(word(0x34), (3072 - 16) * 16);
  assert.equal(r.read(0x5b) | (r.read(0x5c) << 8) | (r.read(0x5d) << 16), (3 * GIB) / (64 * 1024));
});

test('memory size bytes for a small guest', () => {
  const r = makeRtc(LEAP_DAY, 8 * MIB);
  const word = (i: number) => r.read(i) | (r.read(i + 1) << 8);
  assert.equal(word(0x17), 7 * 1024);
  assert.equal(word(0x34), 0);
});

test('setting the time under status B SET is committed when SET clears, then keeps ticking', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x0b, 0x82);
  for (const [index, value] of [[0x32, 0x20], [0x09, 0x25], [0x08, 0x12], [0x07, 0x31], [0x04, 0x23], [0x02, 0x59], [0x00, 0x58]] as const) {
    r.write(index, value);
  }
  r.advance(5000);
  assert.equal(r.read(0x00), 0x58, 'frozen while SET');
  r.write(0x0b, 0x02);
  assert.deepEqual([0x09, 0x08, 0x07, 0x04, 0x02, 0x00].map(r.read), [0x25, 0x12, 0x31, 0x23, 0x59, 0x58]);
  r.advance(2000);
  assert.deepEqual([0x32, 0x09, 0x08, 0x07, 0x04, 0x02, 0x00].map(r.read), [0x20, 0x26, 0x01, 0x01, 0x00, 0x00, 0x00]);
  assert.equal(r.read(0x06), 0x05, '1 January 2026 is a Thursday');
});

test('a single time register write without SET applies at once', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x04, 0x01);
  assert.equal(r.read(0x04), 0x01);
  assert.equal(r.read(0x02), 0x45);
  assert.equal(new Date(r.rtc.guestTimeMs()).getUTCHours(), 1);
});

test('invalid BCD and out-of-range time writes are ignored', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x00, 0x5f);
  r.write(0x02, 0x60);
  r.write(0x04, 0x24);
  r.write(0x08, 0x13);
  r.write(0x07, 0x00);
  assert.deepEqual([0x00, 0x02, 0x04, 0x08, 0x07].map(r.read), [0x07, 0x45, 0x13, 0x02, 0x29]);
});

test('years 0-99 of century 0 are not taken as 19xx', () => {
  const r = makeRtc(LEAP_DAY);
  r.write(0x0b, 0x86);
  r.write(0x32, 0);
  r.write(0x09, 50);
  r.write(0x0b, 0x06);
  assert.equal(r.read(0x32), 0);
  assert.equal(r.read(0x09), 50);
});

test('property: the registers show the UTC fields of the clock, as Date computes them (years 0 to 9999)', () => {
  const YEAR_0 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
  const YEAR_10000 = 253_402_300_800_000;
  fc.assert(
    fc.property(fc.integer({ min: YEAR_0, max: YEAR_10000 - 1 }), (ms) => {
      const r = makeRtc(ms);
      r.write(0x0b, 0x06); // binary, 24-hour
      const d = new Date(ms);
      assert.deepEqual(
        [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(r.read),
        [d.getUTCSeconds(), d.getUTCMinutes(), d.getUTCHours(), d.getUTCDay() + 1, d.getUTCDate(), d.getUTCMonth() + 1,
          d.getUTCFullYear() % 100, Math.floor(d.getUTCFullYear() / 100)],
      );
    }),
    { numRuns: 2000 },
  );
});

test('property: a time set under SET is the one Date.UTC gives, day overflow rolling on', () => {
  fc.assert(
    fc.property(
      fc.record({ century: fc.integer({ min: 0, max: 99 }), year: fc.integer({ min: 0, max: 99 }), month: fc.integer({ min: 1, max: 12 }),
        day: fc.integer({ min: 1, max: 31 }), hours: fc.integer({ min: 0, max: 23 }), minutes: fc.integer({ min: 0, max: 59 }), seconds: fc.integer({ min: 0, max: 59 }) }),
      (t) => {
        const r = makeRtc(LEAP_DAY - 250); // on a whole second
        r.write(0x0b, 0x86);
        for (const [index, value] of [[0x32, t.century], [0x09, t.year], [0x08, t.month], [0x07, t.day], [0x04, t.hours], [0x02, t.minutes], [0x00, t.seconds]] as const) {
          r.write(index, value);
        }
        r.write(0x0b, 0x06);
        const expected = new Date(0);
        expected.setUTCFullYear(t.century * 100 + t.year, t.month - 1, t.day);
        expected.setUTCHours(t.hours, t.minutes, t.seconds, 0);
        assert.equal(r.rtc.guestTimeMs(), expected.getTime());
      },
    ),
    { numRuns: 1000 },
  );
});
