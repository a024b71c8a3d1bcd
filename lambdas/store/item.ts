/** Shared helpers of the entity codecs: key padding and stripping of key attributes. */
export type Item = Record<string, unknown>;

export interface Key {
  pk: string;
  sk: string;
}

/** Zero-padded ids keep numeric order in sort keys. */
export function pad(id: number, width = 10): string {
  return String(id).padStart(width, '0');
}

export function withoutKeys<T>(item: Item): T {
  const { pk: _pk, sk: _sk, entity: _entity, ...rest } = item;
  return rest as T;
}
