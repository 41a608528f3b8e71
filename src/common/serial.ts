// A small tagged encoding of plain data (Maps, Sets, typed arrays, bigints, objects) into JSON-safe values
// and back, for snapshots of the reference dataplane (src/api/snapshot.ts). Not structuredClone: that
// has no byte form in browsers, and v8.serialize is Node-only. Class instances are encoded as their
// own fields and restored into the instance a fresh object already has (restoreFields), so methods stay.

type Encoded = null | boolean | number | string | Encoded[] | { [k: string]: Encoded };

const TYPED = { Uint8Array, Uint16Array, Uint32Array, Int32Array, Float64Array } as const;

export function encode(v: unknown): Encoded {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $n: String(v) };
  if (v === undefined) return { $u: 1 };
  if (typeof v === 'bigint') return { $b: v.toString() };
  if (Array.isArray(v)) return v.map(encode);
  if (v instanceof Map) return { $m: [...v].map(([k, x]) => [encode(k), encode(x)]) };
  if (v instanceof Set) return { $s: [...v].map(encode) };
  for (const [name, T] of Object.entries(TYPED)) if (v instanceof T) return { $t: name, d: Array.from(v as ArrayLike<number>) };
  if (typeof v === 'object') {
    const o: Record<string, Encoded> = {};
    for (const [k, x] of Object.entries(v)) o[k] = encode(x);
    return { $o: o };
  }
  throw new TypeError(`cannot encode a ${typeof v}`);
}

export function decode(e: unknown): unknown {
  if (e === null || typeof e !== 'object') return e;
  if (Array.isArray(e)) return e.map(decode);
  const o = e as Record<string, unknown>;
  if ('$n' in o) return Number(o.$n);
  if ('$u' in o) return undefined;
  if ('$b' in o) return BigInt(o.$b as string);
  if ('$m' in o) return new Map((o.$m as [unknown, unknown][]).map(([k, x]) => [decode(k), decode(x)]));
  if ('$s' in o) return new Set((o.$s as unknown[]).map(decode));
  if ('$t' in o) {
    const T = TYPED[o.$t as keyof typeof TYPED];
    if (!T) throw new TypeError(`unknown typed array ${String(o.$t)}`);
    return T.from(o.d as number[]);
  }
  if ('$o' in o) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o.$o as Record<string, unknown>)) out[k] = decode(x);
    return out;
  }
  throw new TypeError('not an encoded value');
}

const isInstance = (v: unknown): v is object =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set)
  && !ArrayBuffer.isView(v) && Object.getPrototypeOf(v) !== Object.prototype;

/** Encode the named own fields of `target`. */
export function encodeFields(target: object, names: readonly string[]): Record<string, Encoded> {
  const out: Record<string, Encoded> = {};
  for (const n of names) out[n] = encode((target as Record<string, unknown>)[n]);
  return out;
}

/** Put encoded fields back into `target`; a field holding a class instance keeps it and takes the fields. */
export function restoreFields(target: object, fields: Record<string, unknown>): void {
  const t = target as Record<string, unknown>;
  for (const [k, e] of Object.entries(fields)) {
    const v = decode(e);
    if (isInstance(t[k]) && typeof v === 'object' && v !== null) Object.assign(t[k] as object, v);
    else t[k] = v;
  }
}
