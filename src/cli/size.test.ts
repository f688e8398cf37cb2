import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatSize, parseSize } from './size.js';
import { UsageError } from '../util/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

function assertUsageError(text: string): void {
  assert.throws(
    () => parseSize(text, '--mem'),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `expected UsageError for ${JSON.stringify(text)}, got ${String(error)}`);
      assert.equal(error.exitCode, 2);
      assert.ok(!error.message.includes('\n'), `message must be one line: ${JSON.stringify(error.message)}`);
      assert.ok(error.message.includes('--mem'), 'message names the flag');
      return true;
    },
  );
}

describe('parseSize', () => {
  it('accepts plain byte counts, with or without B', () => {
    assert.equal(parseSize('0'), 0);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('4096B'), 4096);
    assert.equal(parseSize('4096 b'), 4096);
    assert.equal(parseSize(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  });

  it('uses binary units, case-insensitively, with optional B or iB', () => {
    for (const spelling of ['512M', '512m', '512MB', '512mb', '512MiB', '512mib', '512 MiB', '0.5G', '524288K']) {
      assert.equal(parseSize(spelling), 512 * MiB, spelling);
    }
    assert.equal(parseSize('1K'), KiB);
    assert.equal(parseSize('2G'), 2 * GiB);
    assert.equal(parseSize('1T'), TiB);
    assert.equal(parseSize('1.5G'), 1.5 * GiB);
    assert.equal(parseSize('0.5K'), 512);
    assert.equal(parseSize('0001M'), MiB);
  });

  it('accepts fractions only when they land on a whole byte', () => {
    assert.equal(parseSize('0.25K'), 256);
    assert.equal(parseSize('0.0009765625K'), 1);
    assertUsageError('0.3K');
    assertUsageError('1.5');
    assertUsageError('0.0000000000000000000001T');
  });

  it('rejects negatives, empty input, garbage and overflow', () => {
    for (const text of [
      '', ' ', '-1', '-512M', ' -1', 'M', 'abc', '12x', '1.', '.5M', '1..5M', '1e3', '0x10', '1 2', '512 ', ' 512',
      '512M ', '512  M', '512iB', '512Mi', '512MBB', '512KM', '1,5M', 'Infinity', 'NaN', '٣', '512\nM', '1'.repeat(65),
      '9007199254740992', '8192T', '99999999999999999999999G',
    ]) {
      assertUsageError(text);
    }
  });

  it('round-trips every safe byte count through formatSize', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (bytes) => {
        assert.equal(parseSize(formatSize(bytes)), bytes);
      }),
    );
  });

  it('round-trips sizes built from units and fractions', () => {
    const unitBytes = fc.constantFrom(1, KiB, MiB, GiB, TiB);
    fc.assert(
      fc.property(fc.nat({ max: 1 << 20 }), fc.nat({ max: 1023 }), unitBytes, (whole, fractionKiB, unit) => {
        const bytes = whole * unit + Math.floor((fractionKiB * unit) / 1024);
        fc.pre(Number.isSafeInteger(bytes));
        assert.equal(parseSize(formatSize(bytes)), bytes);
      }),
    );
  });

  it('agrees with multiplying out NUMBER SUFFIX', () => {
    const suffixes: [string, number][] = [['', 1], ['B', 1], ['K', KiB], ['kib', KiB], ['M', MiB], ['Mb', MiB], ['G', GiB], ['T', TiB]];
    fc.assert(
      fc.property(fc.nat({ max: 1 << 30 }), fc.constantFrom(...suffixes), (count, [suffix, multiplier]) => {
        const expected = count * multiplier;
        const text = `${count}${suffix}`;
        if (Number.isSafeInteger(expected)) assert.equal(parseSize(text), expected);
        else assertUsageError(text);
      }),
    );
  });

  it('throws nothing but UsageError on arbitrary input', () => {
    const sizeLike = fc.stringMatching(/^-?\d{0,20}(\.\d{0,20})?\s?[kmgtbKMGTBi]{0,3}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), sizeLike), (text) => {
        try {
          const bytes = parseSize(text);
          assert.ok(Number.isSafeInteger(bytes) && bytes >= 0, `${JSON.stringify(text)} gave ${bytes}`);
        } catch (error) {
          assert.ok(error instanceof UsageError, `${JSON.stringify(text)} threw ${String(error)}`);
          assert.ok(!error.message.includes('\n'));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatSize', () => {
  it('picks the largest exact unit with at most three decimals', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(KiB), '1 KiB');
    assert.equal(formatSize(512 * MiB), '512 MiB');
    assert.equal(formatSize(1.5 * GiB), '1.5 GiB');
    assert.equal(formatSize(GiB + 128 * MiB), '1.125 GiB');
    assert.equal(formatSize(GiB + MiB), '1025 MiB');
    assert.equal(formatSize(16 * MiB), '16 MiB');
    assert.equal(formatSize(TiB), '1 TiB');
    assert.equal(formatSize(4097), '4097 B');
  });

  it('rejects values that are not byte counts', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      assert.throws(() => formatSize(bad), RangeError);
    }
  });
});
