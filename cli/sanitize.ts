/**
 * Text from the server is printed without terminal control characters: a task's output tail, a node's
 * name or an error message cannot move the cursor, recolour or clear the terminal, set its title, write
 * hyperlinks or answer-back requests. Everything the commands print from the API goes through here.
 */

/**
 * Escape sequences as a terminal reads them (ECMA-48), removed whole, with what they carry:
 * - strings: OSC (`ESC ]`), DCS (`ESC P`), SOS (`ESC X`), PM (`ESC ^`), APC (`ESC _`), up to their
 *   terminator (BEL or ST, `ESC \`); and their 8-bit forms (U+009D, U+0090, U+0098, U+009E, U+009F, ST U+009C);
 * - CSI (`ESC [` or U+009B): parameter bytes, intermediate bytes, a final byte;
 * - any other escape: intermediate bytes and a final byte (`ESC c`, `ESC ( B`, `ESC 7`).
 */
const ESCAPE_SEQUENCE = new RegExp(
  [
    '(?:\\u001b[\\]PX^_]|[\\u0090\\u0098\\u009d\\u009e\\u009f])[\\s\\S]*?(?:\\u0007|\\u001b\\\\|\\u009c)',
    '(?:\\u001b\\[|\\u009b)[\\u0030-\\u003f]*[\\u0020-\\u002f]*[\\u0040-\\u007e]',
    '\\u001b[\\u0020-\\u002f]*[\\u0030-\\u007e]',
  ].join('|'),
  'g',
);

/** C0 controls but tab and newline, DEL, C1 controls: what is left of a sequence, or a lone control. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it removes
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` without escape sequences and control characters; newlines and tabs stay. */
export function sanitize(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '');
}

/** `text` sanitized on one line (a table cell): newlines and tabs become spaces. */
export function sanitizeLine(text: string): string {
  return sanitize(text).replace(/[\n\t]/g, ' ');
}

/**
 * JSON text safe to print: JSON.stringify escapes C0 controls in strings (`\u001b`) but leaves DEL and the
 * C1 controls as they are; these become `\u` escapes too, so the JSON means the same and prints no control.
 * (Outside strings JSON has no such characters.)
 */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value as indented JSON, safe to print (see `escapeJsonControls`). */
export const safeJson = (value: unknown): string => escapeJsonControls(JSON.stringify(value, null, 2));
