/** `0x1f00` style, for messages and debug output; `width` pads with zeros. */
export function hex(value: number | bigint, width = 0): string {
  return `0x${value.toString(16).padStart(width, '0')}`;
}
