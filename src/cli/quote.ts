/**
 * Quoting of user-supplied text inside one-line error messages: control
 * characters (a newline in an argument, an escape sequence) are escaped so
 * the message stays on one line and cannot drive the terminal, and very long
 * values are shortened.
 */

const MAX_QUOTED_LENGTH = 80;

/** `value` in single quotes, safe to embed in a one-line message. */
export function quoteForMessage(value: string): string {
  const shortened = value.length > MAX_QUOTED_LENGTH ? `${value.slice(0, MAX_QUOTED_LENGTH)}...` : value;
  return `'${escapeControlCharacters(shortened)}'`;
}

/** Replaces C0/C1 control characters and line separators with `\xNN` / `\uNNNN`. */
export function escapeControlCharacters(text: string): string {
  // Matching control characters is the point here.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
