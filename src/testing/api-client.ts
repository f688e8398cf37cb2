/** A small HTTP/1.1 client over a UNIX socket for the API tests (Firecracker's API, src/api). */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ApiResponse {
  status: number;
  /** The raw body ('' for 204). */
  text: string;
  /** The body parsed as JSON, or undefined when empty. */
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** Sends one request; `body` is sent as JSON unless it is a string (sent as is). */
export function api(socketPath: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request({ socketPath, method, path, headers: payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text, json: text.length > 0 ? JSON.parse(text) : undefined, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The fault_message of a 400 answer (fails if the answer is not one). */
export function faultOf(res: ApiResponse): string {
  if (res.status !== 400) throw new Error(`expected 400, got ${res.status} ${res.text}`);
  const message = (res.json as { fault_message?: unknown }).fault_message;
  if (typeof message !== 'string') throw new Error(`no fault_message in ${res.text}`);
  return message;
}

/** Polls until `socketPath` answers GET /machine-config (as firecracker-go-sdk waits for the socket). */
export async function waitForApi(socketPath: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await api(socketPath, 'GET', '/machine-config');
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`the API on ${socketPath} did not answer within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Polls GET / until its state is `state`. */
export async function waitForState(socketPath: string, state: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(socketPath, 'GET', '/');
    const last = (res.json as { state?: string } | undefined)?.state ?? res.text;
    if (last === state) return;
    if (Date.now() > deadline) throw new Error(`state stayed ${last}, not ${state}, for ${timeoutMs} ms`);
    await sleep(20);
  }
}
