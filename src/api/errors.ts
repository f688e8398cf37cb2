/**
 * Errors the API answers with HTTP 400 and `{"fault_message": ...}`
 * (Firecracker's swagger, the `Error` definition). Each has a stable code;
 * the library throws the same errors.
 */
import { TkvmError } from '../util/errors.js';

/** A request tkvm refuses: bad input, or an operation in the wrong VM state. */
export class ApiError extends TkvmError {
  constructor(code: string, message: string) {
    super(code, message, 1);
    this.name = 'ApiError';
  }
}

/** The body does not match the resource's schema (unknown field, wrong type, out of range). */
export function invalidBody(message: string): ApiError {
  return new ApiError('ERR_API_INVALID_BODY', message);
}

/** A Firecracker feature tkvm does not have: answered, never ignored. */
export function unsupported(feature: string): ApiError {
  return new ApiError('ERR_API_UNSUPPORTED', `tkvm does not support ${feature}`);
}

/** Firecracker's wording for an operation that only exists before InstanceStart. */
export function notAfterBoot(): ApiError {
  return new ApiError('ERR_API_PRE_BOOT_ONLY', 'The requested operation is not supported after starting the microVM.');
}

/** Firecracker's wording for an operation that only exists once the VM runs. */
export function notBeforeBoot(): ApiError {
  return new ApiError('ERR_API_POST_BOOT_ONLY', 'The requested operation is not supported before starting the microVM.');
}
