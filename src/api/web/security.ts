/**
 * The security rules of `tkvm web` (docs/cli.md, "tkvm web"), as pure
 * functions: a random token in the first path segment of every URL, the
 * Host a request may name (a DNS-rebinding page names its own), the Origin
 * a WebSocket or a POST must come from (the server's own), and the headers
 * every response carries (Content-Security-Policy: scripts only from the
 * server itself, never inline).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** 32 random bytes as base64url: 256 bits, URL-safe without escaping. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The token's form: what newToken makes (tests may pass their own of this form). */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

/**
 * Splits a request path `/TOKEN/rest` into the token check and the rest
 * (`/rest`; '' for `/TOKEN` alone). Returns null unless the first segment
 * is the token; the comparison takes the same time wherever a wrong token
 * differs.
 */
export function pathAfterToken(pathname: string, token: string): string | null {
  if (!pathname.startsWith('/')) return null;
  const slash = pathname.indexOf('/', 1);
  const given = Buffer.from(slash === -1 ? pathname.slice(1) : pathname.slice(1, slash));
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return slash === -1 ? '' : pathname.slice(slash);
}

/**
 * The `host:port` values a request's Host header may carry. A server bound
 * to one address answers to that address (and to `localhost` on loopback);
 * one bound to every address (0.0.0.0, ::) answers to any Host, and then
 * only the token protects it.
 */
export function allowedHosts(listenHost: string, port: number): Set<string> | 'any' {
  if (listenHost === '0.0.0.0' || listenHost === '::') return 'any';
  const hosts = new Set([hostPort(listenHost, port)]);
  if (isLoopback(listenHost)) {
    hosts.add(`localhost:${port}`);
    hosts.add(hostPort('127.0.0.1', port));
    hosts.add(hostPort('::1', port));
  }
  return hosts;
}

/** `host:port` as a Host header writes it: IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export function hostAllowed(hostHeader: string | undefined, allowed: Set<string> | 'any'): boolean {
  if (hostHeader === undefined || hostHeader.length === 0 || hostHeader.length > 300) return false;
  return allowed === 'any' || allowed.has(hostHeader.toLowerCase());
}

/** The request comes from a page of this server: its Origin is `http://` and the Host it was sent to. */
export function originAllowed(originHeader: string | undefined, hostHeader: string | undefined): boolean {
  if (originHeader === undefined || hostHeader === undefined) return false;
  return originHeader.toLowerCase() === `http://${hostHeader.toLowerCase()}`;
}

/**
 * Scripts, styles, fonts and images only from this server; no inline
 * script, no eval, no plug-ins, no framing, no forms. Styles allow
 * 'unsafe-inline' because xterm.js's DOM renderer writes its theme into a
 * <style> element it creates; scripts never do.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every response carries, 401s and errors included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  // The token is in the URL: never send it on to another site.
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};
