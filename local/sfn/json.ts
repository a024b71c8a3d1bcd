/**
 * JSON values as states pass them to each other, and the two operations the local Step Functions
 * endpoint does on them: serializing a function's answer like Lambda does, and putting a task token in
 * place of its placeholder.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Serializes a value the way a Lambda response is serialized (undefined -> null). */
export function toJson(value: unknown): Json {
  const text = JSON.stringify(value ?? null);
  return text === undefined ? null : (JSON.parse(text) as Json);
}

/** Replaces `placeholder` in every string of `value`, at any depth. */
export function replaceDeep(value: Json, placeholder: string, replacement: string): Json {
  if (typeof value === 'string') return value.split(placeholder).join(replacement);
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, placeholder, replacement));
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = replaceDeep(item, placeholder, replacement);
    return out;
  }
  return value;
}
