// The policy map's entries as the compiler keeps them (assembly/policy.ts draws the map itself).
//
// A subject's entries of one direction depend only on the policies that decide that direction (see
// compile.ts compileSubject), so subjects decided alike share one list of entries without their
// endpoint id: a "direction list". A subject's entries are its two lists with its id put in front.
// The benchmark cluster's 42,000 entries of 1,200 subjects are 400 lists; keeping a key object, a
// value and a key string per entry instead was a third of a compile's time in allocation and GC.
//
// An entry's key string is `${endpoint},${identity},${port},${proto},${dir},${portPrefix}`; `suffix` is that
// string without the endpoint (what tells two entries of a subject apart).

import type { PolicyKey, PolicyValue } from '../dataplane.js';

/** One entry of a direction list: the key without its endpoint, and the verdict with its rule. */
export interface ListedEntry {
  identity: number; port: number; proto: number; portPrefix: number;
  /** Shared between entries and lists: never changed in place. */
  v: PolicyValue;
  suffix: string;
}

/** The entries of one direction for every subject the same policies decide. */
export interface DirectionList {
  /** DIR.INGRESS or DIR.EGRESS. */
  dir: number;
  /** Whether the direction is enforced (some policy selects the subject in it). */
  enforced: boolean;
  entries: ListedEntry[];
  /** The isolated rule the direction asked for (asked again for every subject it is replayed for). */
  isolated?: [string, import('./explain.js').RuleInfo];
  /** Entries by suffix, made on first use. */
  bySuffix?: Map<string, ListedEntry>;
}

/** An entry as the dataplane takes it. */
export interface PolicyEntry { key: PolicyKey; value: PolicyValue }

export const entrySuffix = (identity: number, port: number, proto: number, dir: number, portPrefix: number) =>
  `,${identity},${port},${proto},${dir},${portPrefix}`;

/**
 * A list being built: an entry put twice keeps its first place and takes the last verdict (as a Map
 * would).
 */
export class DirectionListBuilder {
  readonly list: DirectionList;
  private readonly at = new Map<string, number>();
  constructor(dir: number) { this.list = { dir, enforced: false, entries: [] }; }
  put(identity: number, port: number, proto: number, portPrefix: number, v: PolicyValue): void {
    const suffix = entrySuffix(identity, port, proto, this.list.dir, portPrefix);
    const i = this.at.get(suffix);
    if (i !== undefined) { this.list.entries[i] = { ...this.list.entries[i], v }; return; }
    this.at.set(suffix, this.list.entries.length);
    this.list.entries.push({ identity, port, proto, portPrefix, v, suffix });
  }
}

/** The list of direction `dir` among a subject's lists. */
const listOf = (lists: readonly DirectionList[] | undefined, dir: number) => lists?.find((l) => l.dir === dir);

function suffixIndex(l: DirectionList): Map<string, ListedEntry> {
  if (!l.bySuffix) {
    l.bySuffix = new Map();
    for (const e of l.entries) l.bySuffix.set(e.suffix, e);
  }
  return l.bySuffix;
}

/** The entry a listed one is for subject `endpoint`. */
export const entryOf = (endpoint: number, l: DirectionList, e: ListedEntry): PolicyEntry =>
  ({ key: { endpoint, identity: e.identity, port: e.port, proto: e.proto, dir: l.dir, portPrefix: e.portPrefix }, value: e.v });

/**
 * Every subject's direction lists, in the order the subjects were compiled: iterated (and counted) as
 * the entries themselves, `[key string, entry]`, subject by subject, list by list.
 */
export class PolicyEntries implements Iterable<[string, PolicyEntry]> {
  private readonly subjects = new Map<number, readonly DirectionList[]>();
  private count = 0;

  get size(): number { return this.count; }

  /** The lists of subject `endpoint`, if it has entries. */
  of(endpoint: number): readonly DirectionList[] | undefined { return this.subjects.get(endpoint); }

  /** Give subject `endpoint` these lists (its old ones go; it moves to the end of the order). */
  set(endpoint: number, lists: readonly DirectionList[]): void {
    this.delete(endpoint);
    this.subjects.set(endpoint, lists);
    for (const l of lists) this.count += l.entries.length;
  }

  delete(endpoint: number): boolean {
    const old = this.subjects.get(endpoint);
    if (!old) return false;
    for (const l of old) this.count -= l.entries.length;
    return this.subjects.delete(endpoint);
  }

  /** Subject `endpoint`'s entries, in order. */
  *entriesOf(endpoint: number): Generator<PolicyEntry> {
    for (const l of this.subjects.get(endpoint) ?? []) for (const e of l.entries) yield entryOf(endpoint, l, e);
  }

  /** The subjects and their lists, in order. */
  bySubject(): IterableIterator<[number, readonly DirectionList[]]> { return this.subjects.entries(); }

  *[Symbol.iterator](): Generator<[string, PolicyEntry]> {
    for (const [endpoint, lists] of this.subjects) {
      for (const l of lists) for (const e of l.entries) yield [endpoint + e.suffix, entryOf(endpoint, l, e)];
    }
  }
}

/**
 * What changed from `before` (a subject's old lists, or none) to `after` (its new lists, or none) for
 * subject `endpoint`: the entries to write (new or with another verdict or rule) in `after`'s order,
 * and those to delete in `before`'s order.
 */
export function diffSubject(endpoint: number, before: readonly DirectionList[] | undefined, after: readonly DirectionList[] | undefined):
  { upserted: PolicyEntry[]; deleted: PolicyEntry[] } {
  const out = { upserted: [] as PolicyEntry[], deleted: [] as PolicyEntry[] };
  for (const l of before ?? []) {
    const other = listOf(after, l.dir);
    if (other === l) continue;
    const index = other && suffixIndex(other);
    for (const e of l.entries) if (!index?.has(e.suffix)) out.deleted.push(entryOf(endpoint, l, e));
  }
  for (const l of after ?? []) {
    const other = listOf(before, l.dir);
    if (other === l) continue;
    const index = other && suffixIndex(other);
    for (const e of l.entries) {
      const b = index?.get(e.suffix);
      if (!b || b.v.rule !== e.v.rule || b.v.verdict !== e.v.verdict) out.upserted.push(entryOf(endpoint, l, e));
    }
  }
  return out;
}
