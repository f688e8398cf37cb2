/** The default guest kit (src/guest) for tests below cli/ that boot it. */
export { ensureDefaultGuest } from '../guest/default-guest.js';
