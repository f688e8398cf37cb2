/**
 * The tap-loop peer (bench/net/tap-loop.c) for tests that move frames
 * through a TAP: it is started in the test's network namespace and reports
 * "... ready" on stdout once its AF_PACKET socket is bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface PeerResult { status: number | null; stdout: string; stderr: string }
export interface TapLoopPeer { child: ChildProcess; done: Promise<PeerResult> }

/** Starts `binary args...` and resolves once it prints its "ready" line; rejects if it exits first. */
export function startTapLoopPeer(binary: string, args: readonly string[]): Promise<TapLoopPeer> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const done = new Promise<PeerResult>((r) => child.on('close', (status) => r({ status, stdout, stderr })));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes(' ready\n')) resolve({ child, done });
    });
    child.on('error', reject);
    void done.then(({ status }) => reject(new Error(`tap-loop ${args[0]} exited (${status}) before it was ready: ${stderr.trim()}`)));
  });
}
