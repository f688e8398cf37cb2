/**
 * Typed errors for malformed 9P messages. Every message the guest sends is
 * untrusted: decoding one never throws, it returns a NinePWireError with a
 * stable `code`, and the tag when the header was readable, so the server
 * can still answer that request with Rlerror.
 */
import { NOTAG } from './messages.js';

export type NinePWireErrorCode =
  /** Fewer bytes than the message's layout needs (a field, string or count runs past the end). */
  | 'ERR_9P_TRUNCATED'
  /** The size field is below the header size, above msize, or disagrees with the bytes the transport carried, or bytes trail the last field. */
  | 'ERR_9P_BAD_SIZE'
  /** A message type this side does not decode (an R-message sent to the server, Tauth, legacy 9P2000 messages). */
  | 'ERR_9P_UNKNOWN_TYPE'
  /** Twalk with more than 16 names, or Rwalk with more than 16 qids. */
  | 'ERR_9P_TOO_MANY_NAMES'
  /** A data count larger than the rest of the message. */
  | 'ERR_9P_COUNT_TOO_LARGE'
  /** A string that is not valid UTF-8 or holds a NUL byte. */
  | 'ERR_9P_BAD_STRING'
  /** A file name (path component) that is empty or holds a '/'. */
  | 'ERR_9P_BAD_NAME';

export class NinePWireError extends Error {
  readonly code: NinePWireErrorCode;
  /** The message's tag, or NOTAG when the header itself was unreadable. */
  readonly tag: number;
  /** The message's type byte, or -1 when the header was unreadable. */
  readonly messageType: number;

  constructor(code: NinePWireErrorCode, message: string, tag = NOTAG, messageType = -1) {
    super(message);
    this.name = 'NinePWireError';
    this.code = code;
    this.tag = tag;
    this.messageType = messageType;
  }
}
