/**
 * A hostile 9P client against the server on a temporary directory: random
 * and mutated messages, walks through symlinks to '/', '..' and magic
 * links, '..' chains, and host-side renames of a directory out of the
 * share and back between requests. The server must answer every request
 * (with its tag), never reach an object outside the export, never change
 * what lies outside it, and hold bounded fids and host descriptors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { tMessages } from '../../../testing/9p-arbitraries.js';
import { NinePClient, openHostTree } from '../../../testing/9p-client.js';
import { NinePWireError } from './errors.js';
import { MAX_MSIZE, MessageType as M, NOFID, type Qid, type RMessage, type TMessage } from './messages.js';
import { decodeRMessage, encodeTMessage } from './wire.js';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-SHARE';
const MAX_FIDS = 24;

const names = fc.constantFrom('..', '.', 'sub', 'file', 'up', 'abs', 'out', 'secretlink', 'proc', 'fdlink', 'new', 'deep', 'sub2');
/** Mostly the attached root and the few fids walks make; now and then any. */
const fid = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 4 }), weight: 8 }, { arbitrary: fc.integer({ min: 5, max: 8 }), weight: 3 }, { arbitrary: fc.integer({ min: 9, max: 30 }), weight: 1 });
/** New fids: mostly ones the set-up left free. */
const newfid = fc.oneof({ arbitrary: fc.integer({ min: 5, max: 8 }), weight: 6 }, { arbitrary: fid, weight: 1 });
const smallCount = fc.integer({ min: 0, max: 70000 });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

/** Requests aimed at the interesting corners: small fid numbers, names from the traps above. */
const aimed: fc.Arbitrary<Omit<TMessage, 'tag'>>[] = [
  fc.record({ type: fc.constant(M.Twalk), fid: fc.constantFrom(0, 2), newfid, names: fc.array(fc.constantFrom('sub', 'file', 'deep', 'new', '..'), { maxLength: 2 }) }),
  fc.record({ type: fc.constant(M.Twalk), fid, newfid, names: fc.oneof({ arbitrary: fc.array(names, { maxLength: 3 }), weight: 6 }, { arbitrary: fc.array(names, { maxLength: 18 }), weight: 1 }) }),
  fc.record({ type: fc.constant(M.Tlopen), fid, flags: fc.constantFrom(0, 1, 2, 0o200000, 0o1002, 0o2001, 0o40000) }),
  fc.record({ type: fc.constant(M.Tread), fid, offset: fc.constantFrom(0, 1, 4096, 2 ** 53 + 2), count: smallCount }),
  fc.record({ type: fc.constant(M.Twrite), fid, offset: fc.constantFrom(0, 7), data: fc.uint8Array({ maxLength: 64 }) }).map((m) => ({ ...m, count: m.data.length })),
  fc.record({ type: fc.constant(M.Treaddir), fid, offsetLo: fc.constantFrom(0, 1, 0xffff_ffff), offsetHi: fc.constantFrom(0, 0x7fff_ffff), count: smallCount }),
  fc.record({ type: fc.constant(M.Tgetattr), fid, requestMaskLo: u32, requestMaskHi: u32 }),
  fc.record({ type: fc.constant(M.Tclunk), fid }),
  fc.record({ type: fc.constant(M.Tlcreate), fid, name: names, flags: fc.constantFrom(2, 0o302), mode: fc.constantFrom(0o644, 0o4777), gid: fc.constant(NOFID) }),
  fc.record({ type: fc.constant(M.Tmkdir), dfid: fid, name: names, mode: fc.constant(0o755), gid: fc.constant(NOFID) }),
  fc.record({ type: fc.constant(M.Tsymlink), dfid: fid, name: names, target: fc.constantFrom('/', '..', '../outside/secret', '/proc/self/root'), gid: fc.constant(NOFID) }),
  fc.record({ type: fc.constant(M.Tlink), dfid: fid, fid, name: names }),
  fc.record({ type: fc.constant(M.Trenameat), oldDfid: fid, oldName: names, newDfid: fid, newName: names }),
  fc.record({ type: fc.constant(M.Tunlinkat), dfid: fid, name: names, flags: fc.constantFrom(0, 0x200) }),
  fc.record({ type: fc.constant(M.Treadlink), fid }),
  fc.record({ type: fc.constant(M.Txattrwalk), fid, newfid, name: fc.constantFrom('', 'user.a', 'trusted.x') }),
  fc.record({ type: fc.constant(M.Txattrcreate), fid, name: fc.constantFrom('user.a', 'security.x'), attrSize: fc.constantFrom(0, 3, 70000, 2 ** 60), flags: fc.constantFrom(0, 1, 2, 9) }),
  fc.record({ type: fc.constant(M.Tsetattr), fid, valid: u32, mode: u32, uid: fc.constant(NOFID), gid: fc.constant(NOFID), size: fc.constantFrom(0, 5, 2 ** 62), atimeSec: fc.constant(0), atimeNsec: fc.constantFrom(0, 2 ** 40), mtimeSec: fc.constant(0), mtimeNsec: fc.constant(0) }),
  fc.record({ type: fc.constant(M.Tlock), fid, lockType: fc.constantFrom(0, 1, 2, 3), flags: fc.constant(0), start: fc.constantFrom(0, 2 ** 54), length: fc.constant(0), procId: fc.constant(1), clientId: fc.constant('c') }),
  fc.record({ type: fc.constant(M.Tflush), oldtag: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ type: fc.constant(M.Tattach), fid: newfid, afid: fc.constantFrom(NOFID, 1), uname: fc.constant(''), aname: fc.constant(''), nUname: fc.constant(0) }),
];

type Action =
  | { kind: 'request'; message: Omit<TMessage, 'tag'>; replyBytes: number; pieces: number }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'host'; what: 'move-out' | 'move-back' | 'swap-symlink' };

const request = fc.record({
  message: fc.oneof(
    { arbitrary: fc.oneof(...aimed), weight: 40 },
    // Any message with any fields; Tversion (which ends the session) now and then.
    { arbitrary: fc.oneof(...Object.entries(tMessages).filter(([n]) => n !== 'Tversion').map(([, a]) => a.map(({ tag: _tag, ...rest }) => rest))), weight: 3 },
    { arbitrary: fc.record({ type: fc.constant(M.Tversion), msize: fc.constantFrom(8192, MAX_MSIZE, 100), version: fc.constantFrom('9P2000.L', '9P2000') }), weight: 1 },
  ),
  replyBytes: fc.oneof({ arbitrary: fc.constant(8192), weight: 8 }, { arbitrary: fc.constantFrom(11, 64, 200, MAX_MSIZE), weight: 2 }),
  pieces: fc.integer({ min: 1, max: 6 }),
}).map((r) => ({ kind: 'request' as const, ...r }));

const mutated = fc.tuple(fc.oneof(...Object.values(tMessages)), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }))
  .map(([m, edits]) => {
    const b = encodeTMessage(m);
    for (const [at, v] of edits) b[at % b.length] = v;
    return { kind: 'bytes' as const, bytes: b };
  });

const host = fc.constantFrom('move-out', 'move-back', 'swap-symlink').map((what) => ({ kind: 'host' as const, what: what as 'move-out' | 'move-back' | 'swap-symlink' }));

const action: fc.Arbitrary<Action> = fc.oneof({ arbitrary: request, weight: 8 }, { arbitrary: mutated, weight: 2 }, { arbitrary: host, weight: 1 });

/** `reply`, or a failure when no reply came within 5 s (a request the server lost). */
async function answered(reply: Promise<Uint8Array>, request: Uint8Array): Promise<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply to ${Buffer.from(request).toString('hex')}`)), 5000);
  });
  try {
    return await Promise.race([reply, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function ino(p: string): string {
  const st = fs.lstatSync(p, { bigint: true });
  return st.ino.toString();
}

function qidsOf(r: RMessage): Qid[] {
  if (r.type === M.Rwalk) return r.qids;
  if ('qid' in r) return [r.qid];
  return [];
}

test('hostile client: every request answered, nothing outside the export reached, bounded state', { timeout: 10 * 60_000 }, async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-9p-fuzz-'));
  const share = path.join(base, 'share');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(share, 'sub', 'deep'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), SECRET);
  fs.writeFileSync(path.join(share, 'file'), 'inside');
  fs.symlinkSync('..', path.join(share, 'up'));
  fs.symlinkSync('/', path.join(share, 'abs'));
  fs.symlinkSync('../outside', path.join(share, 'out'));
  fs.symlinkSync('../outside/secret', path.join(share, 'secretlink'));
  fs.symlinkSync('/proc/self/root', path.join(share, 'proc'));
  fs.symlinkSync('/proc/self/fd/0', path.join(share, 'fdlink'));
  fs.symlinkSync('..', path.join(share, 'sub', 'deep', 'up'));
  const forbidden = new Set([ino(base), ino(outside), ino(path.join(outside, 'secret')), ino('/'), ino('/proc')]);
  const tree = openHostTree(share);
  const client = new NinePClient(tree, { maxFids: MAX_FIDS });
  const before = tree.openHandles;
  const failures: string[] = [];
  /** Replies by type, to check the fuzz reaches past the first error. */
  const seen = new Map<number, number>();
  try {
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 30, size: 'medium' }), async (actions) => {
      try {
        await run(actions);
      } catch (err) {
        // fast-check reports only the shrunk input: keep the first failure's message.
        failures.push(err instanceof Error ? err.message : String(err));
        throw err;
      }
    }), { numRuns: 150, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED), path: process.env.FUZZ_PATH } : {}) }).catch((err: unknown) => {
      throw new Error(`${failures[0] ?? ''}\n${err instanceof Error ? err.message : String(err)}`);
    });
    // The sequences got somewhere: walks, opens, reads and creates succeeded, not only errors.
    for (const type of [M.Rwalk, M.Rlopen, M.Rread, M.Rgetattr, M.Rreaddir, M.Rlcreate, M.Rmkdir]) {
      assert.ok((seen.get(type) ?? 0) > 0, `no ${type} reply in the whole run: ${JSON.stringify([...seen])}`);
    }
  } finally {
    client.close();
    await tree.dispose();
    fs.rmSync(base, { recursive: true, force: true });
  }

  async function setUp(...walks: [number, number, string[]][]): Promise<void> {
    for (const [from, to, names] of walks) await client.errnoOf({ type: M.Twalk, fid: from, newfid: to, names });
  }

  async function run(actions: Action[]): Promise<void> {
      // Earlier runs may have removed or moved them: each run starts with the file and the directory.
      fs.rmSync(path.join(share, 'file'), { recursive: true, force: true });
      fs.writeFileSync(path.join(share, 'file'), 'inside');
      fs.mkdirSync(path.join(share, 'sub'), { recursive: true });
      await client.mount(0, 0, 8192);
      // Fids 1 to 4 exist when they can: the root again, a directory, the file opened, the root opened for readdir.
      await setUp([0, 1, []], [0, 2, ['sub']], [0, 3, ['file']], [0, 4, []]);
      await client.errnoOf({ type: M.Tlopen, fid: 3, flags: 2 });
      await client.errnoOf({ type: M.Tlopen, fid: 4, flags: 0o200000 });
      for (const a of actions) {
        if (a.kind === 'host') {
          const inShare = path.join(share, 'sub');
          const moved = path.join(outside, 'sub-moved');
          try {
            if (a.what === 'move-out') fs.renameSync(inShare, moved);
            else if (a.what === 'move-back') fs.renameSync(moved, inShare);
            else {
              fs.rmSync(path.join(share, 'sub2'), { recursive: true, force: true });
              fs.symlinkSync('../outside', path.join(share, 'sub2'));
            }
          } catch {
            // The guest changed things meanwhile (sub is gone, or a new one is in the way): no race this time.
          }
          continue;
        }
        const tag = client.tag();
        let bytes: Uint8Array;
        if (a.kind === 'bytes') {
          bytes = a.bytes;
        } else {
          bytes = encodeTMessage({ ...a.message, tag } as TMessage);
        }
        const reply = await answered(client.send(bytes, a.kind === 'request' ? { replyBytes: a.replyBytes, pieces: a.pieces } : {}), bytes);
        if (reply.length === 0) {
          assert.ok(a.kind === 'request' && a.replyBytes < 11, 'only a chain without room for Rlerror is dropped');
          continue;
        }
        const r = decodeRMessage(reply);
        assert.ok(!(r instanceof NinePWireError), `the reply decodes: ${r instanceof NinePWireError ? r.message : ''}`);
        if (a.kind === 'request' && a.message.type !== M.Tversion) assert.equal(r.tag, tag);
        seen.set(r.type, (seen.get(r.type) ?? 0) + 1);
        if (process.env.FUZZ_DEBUG && r.type === M.Rlerror) console.error('err', a.kind === 'request' ? a.message.type : 'bytes', r.ecode);
        for (const q of qidsOf(r)) {
          const n = (BigInt(q.pathHi) << 32n) | BigInt(q.pathLo);
          assert.ok(!forbidden.has(n.toString()), `a qid of an object outside the share: ${JSON.stringify(r)}`);
        }
        if (r.type === M.Rread && r.data) assert.ok(!Buffer.from(r.data).toString('latin1').includes(SECRET), 'read the secret');
        assert.ok(client.device.server.fidCount <= MAX_FIDS);
      }
      // Every request answered; Tversion clunks everything, and no descriptor is left behind.
      assert.equal(client.outstanding, 0);
      await client.mount(0, 0, 8192);
      assert.equal(client.device.server.fidCount, 1);
      assert.equal(client.device.server.inFlight, 0);
      assert.ok(tree.openHandles <= before + 1, `${tree.openHandles} handles open`);
      assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), SECRET);
      assert.deepEqual(fs.readdirSync(outside).filter((n) => n !== 'sub-moved'), ['secret']);
  }
});
