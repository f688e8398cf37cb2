/**
 * Checks of the names a guest sends: one path component each (see the
 * SharedTree contract, devices/fs.ts), and user.* xattr names.
 */
export const EINVAL = 22;
export const ENAMETOOLONG = 36;
export const NAME_MAX = 255;
/** XATTR_NAME_MAX and XATTR_SIZE_MAX (include/uapi/linux/limits.h). */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;

function utf8Length(s: string): number {
  return s.length * 3 <= NAME_MAX ? s.length : Buffer.byteLength(s, 'utf8');
}

/** 0 when `name` is a valid component, else the errno to fail with. '.' and '..' pass only when `dots`. */
export function nameError(name: string, dots: boolean): number {
  if (typeof name !== 'string' || name.length === 0) return EINVAL;
  if (name.includes('/') || name.includes('\0')) return EINVAL;
  if (!dots && (name === '.' || name === '..')) return EINVAL;
  return utf8Length(name) > NAME_MAX ? ENAMETOOLONG : 0;
}

/** True for a name in the user.* namespace, the one the layer serves. */
export function isUserXattr(name: string): boolean {
  return typeof name === 'string' && name.startsWith('user.') && name.length > 5 && !name.includes('\0')
    && utf8Length(name) <= XATTR_NAME_MAX;
}
