import { TkvmError } from '../../src/util/errors.js';

/** A benchmark that could not run or whose run was invalid: exit status 1. */
export class BenchError extends TkvmError {
  constructor(message: string) {
    super('ERR_BENCH', message, 1);
    this.name = 'BenchError';
  }
}
