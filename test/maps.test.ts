// Model-based tests of the core's BPF-style maps (assembly/maps/*.ts), driven
// through the map shims exported at the bottom of assembly/index.ts.
//
// Each map is run against a tiny JS model with fast-check's fc.commands /
// fc.modelRun, and the WHOLE observable state is compared after every command
// (every key of the key space, counts, failure/eviction counters, and for the
// LRU the full least -> most recent order). Key spaces and capacities are kept
// small on purpose so that the interesting cases actually happen: collisions,
// long probe runs that wrap past the last slot (backward-shift deletion), full
// maps, evictions, deletes of absent keys, re-insertion after delete. A "grow"
// command creates a large map mid-run so linear memory grows; everything stored
// before must still be readable afterwards (through fresh views).
//
// The LRU is CLOCK / second chance, as the kernel's BPF LRU: a lookup (or an
// update of a present key) only sets the entry's reference bit, and an insert
// into a full map evicts the oldest unreferenced entry, first moving referenced
// ones from the old end to the front with their bit cleared. The model checks
// the list order and every reference bit (lruReferenced) after every command.
//
// The size tests at the end check that map creation refuses sizes that would
// wrap around 2^32 (sizes are computed in 64 bits).
//
// Needs build/release.wasm and build/debug.wasm:
//   npx asc assembly/index.ts --target release && npx asc assembly/index.ts --target debug

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Core, DEBUG_WASM, RELEASE_WASM, freshCore, hashHome, hex, keyBytes, keysWithHomes, loadCore, lruHome,
} from './helpers/wasmMaps.js';

const MAP_OK = 0;
const E2BIG = -7;
const EINVAL = -22;

// Budget: the whole file should stay well under ~20 s on a 2-core machine.
const RUNS = { hash: 600, lru: 600, lpm: 400, array: 150, debug: 10 };
const MAX_COMMANDS = 80;

// Compile both builds once (top-level await: freshCore needs the compiled modules).
await loadCore(RELEASE_WASM);
await loadCore(DEBUG_WASM);

/** Cheap assertion for the inner loops (vitest's expect is slow when called ~10^6 times). */
function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

const u32 = (x: number): number => x >>> 0;

// ---------------------------------------------------------------------------
// Shared pieces: key spaces, values, memory growth
// ---------------------------------------------------------------------------

/** A key number in 0..40; the run's config maps it into its (small) key space. */
const keyIdArb = fc.nat(40);
/** Value bytes; each map uses the first valueSize of them. */
const valueArb = fc.uint8Array({ minLength: 16, maxLength: 16 });

/** A region filled with a pattern by a Grow command: maps must never write into it. */
interface Region { ptr: number; len: number; byte: number }

interface Common {
  core: Core;
  regions: Region[];
}

/**
 * Allocate a large array map (1..2 MiB, so memory must grow), fill its storage
 * with a pattern, and check that growth happened and detached the old buffer.
 */
function growMemory(real: Common, size: number, byte: number): void {
  const { core } = real;
  const oldBuffer = core.x.memory.buffer;
  const before = oldBuffer.byteLength;
  const a = u32(core.x.arrayCreate(4096, Math.ceil(size / 4096)));
  eq(a !== 0, true, 'arrayCreate for growth');
  const ptr = u32(core.x.arrayGet(a, 0));
  const len = u32(core.x.arrayCapacity(a)) * 4096;
  eq(core.memoryBytes() > before, true, `memory grew (was ${before}, now ${core.memoryBytes()})`);
  eq(oldBuffer.byteLength, 0, 'views made before growth are detached');
  eq(ptr + len <= core.memoryBytes(), true, 'grown region lies inside memory');
  core.fill(ptr, len, byte);
  real.regions.push({ ptr, len, byte });
}

/** Grown regions must keep their pattern: no map writes outside its own storage. */
function checkRegions(real: Common): void {
  const b = real.core.bytes();
  for (const r of real.regions) {
    for (const off of [0, 1, 2, 3, r.len >> 1, r.len - 4, r.len - 3, r.len - 2, r.len - 1]) {
      eq(b[r.ptr + off], r.byte, `grown region byte at +${off}`);
    }
  }
}

const growArb = fc.record({ size: fc.integer({ min: 1 << 20, max: 2 << 20 }), byte: fc.integer({ min: 1, max: 255 }) });
const MAX_GROWS = 3;

// ---------------------------------------------------------------------------
// Hash map (BPF_MAP_TYPE_HASH)
// ---------------------------------------------------------------------------

interface HashCfg {
  keySize: number; valueSize: number; maxEntries: number; keySpace: number; clustered: boolean;
}
interface HashModel {
  cfg: HashCfg; keys: number[];
  entries: Map<string, string>; // key hex -> value hex
  failures: number; grows: number;
}
interface HashReal extends Common { m: number; k: number; v: number; cfg: HashCfg; keys: number[] }

const clusterCache = new Map<string, number[]>();
/**
 * Key numbers for a run. Clustered key spaces consist only of keys whose home
 * slot is the last slot or slot 1 (the hash map's homes are always odd: the tag
 * is hash | 1), so one probe run holds every entry and wraps around the end of
 * the table. (maxEntries <= 16 means at most 32 slots, and a key whose home is
 * 31 of 32 has home mask in any smaller power-of-two table.)
 */
function hashKeys(cfg: HashCfg): number[] {
  if (!cfg.clustered) return Array.from({ length: cfg.keySpace }, (_, i) => i);
  const id = `h${cfg.keySize}`;
  let keys = clusterCache.get(id);
  if (!keys) {
    keys = keysWithHomes(41, cfg.keySize, [31, 1], (k) => hashHome(k, 32));
    clusterCache.set(id, keys);
  }
  return keys.slice(0, cfg.keySpace);
}

const hashCfgArb: fc.Arbitrary<HashCfg> = fc.record({
  keySize: fc.constantFrom(4, 8, 12, 16),
  valueSize: fc.constantFrom(0, 1, 4, 8, 13),
  maxEntries: fc.integer({ min: 1, max: 16 }),
  keySpace: fc.integer({ min: 2, max: 41 }),
  clustered: fc.boolean(),
});

function hashKey(m: HashModel | HashReal, id: number): Uint8Array {
  return keyBytes(m.keys[id % m.keys.length], m.cfg.keySize);
}

function verifyHash(model: HashModel, real: HashReal): void {
  const { core, m, k, cfg } = real;
  eq(u32(core.x.hashCount(m)), model.entries.size, 'hashCount');
  eq(u32(core.x.hashFailures(m)), model.failures, 'hashFailures');
  for (const n of real.keys) {
    const key = keyBytes(n, cfg.keySize);
    core.write(k, key);
    const p = u32(core.x.hashLookup(m, k));
    const want = model.entries.get(hex(key));
    if (want === undefined) eq(p, 0, `hashLookup(absent key ${n})`);
    else {
      eq(p !== 0, true, `hashLookup(present key ${n}) is non-zero`);
      eq(hex(core.read(p, cfg.valueSize)), want, `value of key ${n}`);
    }
  }
  checkRegions(real);
}

class HashUpdate implements fc.Command<HashModel, HashReal> {
  constructor(readonly id: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: HashModel, real: HashReal): void {
    const key = hashKey(real, this.id);
    const value = this.value.subarray(0, real.cfg.valueSize);
    real.core.write(real.k, key); real.core.write(real.v, value);
    const rc = real.core.x.hashUpdate(real.m, real.k, real.v);
    const kh = hex(key);
    let want = MAP_OK;
    if (model.entries.has(kh) || model.entries.size < model.cfg.maxEntries) model.entries.set(kh, hex(value));
    else { want = E2BIG; model.failures++; }
    eq(rc, want, `hashUpdate rc`);
    verifyHash(model, real);
  }
  toString(): string { return `update(${this.id}, ${hex(this.value)})`; }
}

class HashDelete implements fc.Command<HashModel, HashReal> {
  constructor(readonly id: number) {}
  check(): boolean { return true; }
  run(model: HashModel, real: HashReal): void {
    const key = hashKey(real, this.id);
    real.core.write(real.k, key);
    eq(real.core.x.hashDelete(real.m, real.k), model.entries.delete(hex(key)) ? 1 : 0, 'hashDelete result');
    verifyHash(model, real);
  }
  toString(): string { return `delete(${this.id})`; }
}

class HashLookup implements fc.Command<HashModel, HashReal> {
  constructor(readonly id: number) {}
  check(): boolean { return true; }
  run(model: HashModel, real: HashReal): void {
    const key = hashKey(real, this.id);
    real.core.write(real.k, key);
    const p = u32(real.core.x.hashLookup(real.m, real.k));
    const want = model.entries.get(hex(key));
    eq(p === 0 ? undefined : hex(real.core.read(p, real.cfg.valueSize)), want, 'hashLookup');
  }
  toString(): string { return `lookup(${this.id})`; }
}

class HashGrow implements fc.Command<HashModel, HashReal> {
  constructor(readonly size: number, readonly byte: number) {}
  check(model: Readonly<HashModel>): boolean { return model.grows < MAX_GROWS; }
  run(model: HashModel, real: HashReal): void {
    model.grows++;
    growMemory(real, this.size, this.byte);
    verifyHash(model, real);
  }
  toString(): string { return `grow(${this.size})`; }
}

const hashCommands = [
  fc.tuple(keyIdArb, valueArb).map(([id, v]) => new HashUpdate(id, v)),
  fc.tuple(keyIdArb, valueArb).map(([id, v]) => new HashUpdate(id, v)), // inserts twice as likely: maps fill up
  keyIdArb.map((id) => new HashDelete(id)),
  keyIdArb.map((id) => new HashLookup(id)),
  growArb.map((g) => new HashGrow(g.size, g.byte)),
];

function runHashModel(file: string, cfg: HashCfg, cmds: Iterable<fc.Command<HashModel, HashReal>>): void {
  const keys = hashKeys(cfg);
  fc.modelRun(() => {
    const core = freshCore(file);
    const k = core.alloc(16); const v = core.alloc(16);
    const m = u32(core.x.hashCreate(cfg.keySize, cfg.valueSize, cfg.maxEntries));
    eq(m !== 0, true, 'hashCreate');
    return {
      model: { cfg, keys, entries: new Map(), failures: 0, grows: 0 },
      real: { core, m, k, v, cfg, keys, regions: [] },
    };
  }, cmds);
}

// ---------------------------------------------------------------------------
// LRU hash map (BPF_MAP_TYPE_LRU_HASH)
// ---------------------------------------------------------------------------

interface LruCfg { keySize: number; valueSize: number; maxEntries: number; keySpace: number; clustered: boolean }
interface LruEntry { value: string; ref: boolean }
interface LruModel {
  cfg: LruCfg; keys: number[];
  /** Insertion order is the list order: first = oldest (evicted first). Moving to the front = delete + set. */
  order: Map<string, LruEntry>;
  evictions: number; grows: number;
}
interface LruReal extends Common { m: number; k: number; cfg: LruCfg; keys: number[] }

/** As hashKeys: clustered keys have their home in the last slot or slot 0. */
function lruKeys(cfg: LruCfg): number[] {
  if (!cfg.clustered) return Array.from({ length: cfg.keySpace }, (_, i) => i);
  const id = `l${cfg.keySize}`;
  let keys = clusterCache.get(id);
  if (!keys) {
    keys = keysWithHomes(41, cfg.keySize, [31, 0], (k) => lruHome(k, 32));
    clusterCache.set(id, keys);
  }
  return keys.slice(0, cfg.keySpace);
}

const lruCfgArb: fc.Arbitrary<LruCfg> = fc.record({
  keySize: fc.constantFrom(4, 8, 12, 16),
  valueSize: fc.constantFrom(0, 1, 4, 8, 13),
  // Mostly tiny maps: "full, oldest entry referenced, insert" (the second chance) must come up often.
  maxEntries: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 2, arbitrary: fc.integer({ min: 4, max: 16 }) }),
  keySpace: fc.integer({ min: 2, max: 41 }),
  clustered: fc.boolean(),
});

function lruKey(m: LruModel | LruReal, id: number): Uint8Array {
  return keyBytes(m.keys[id % m.keys.length], m.cfg.keySize);
}

/** The map's list, oldest -> newest, as `key=value` plus `*` when the reference bit is set. */
function lruWalk(real: LruReal): string {
  const { core, m, cfg } = real;
  const out: string[] = [];
  const limit = u32(core.x.lruCount(m)) + 2;
  for (let s = u32(core.x.lruOldest(m)); s !== 0; s = u32(core.x.lruNewer(m, s))) {
    if (out.length > limit) throw new Error('recency list longer than lruCount (cycle?)');
    const ref = core.x.lruReferenced(s) ? '*' : '';
    out.push(`${hex(core.read(u32(core.x.lruKeyOf(s)), cfg.keySize))}=${hex(core.read(u32(core.x.lruValueOf(m, s)), cfg.valueSize))}${ref}`);
  }
  return out.join(' ');
}

function verifyLru(model: LruModel, real: LruReal): void {
  const { core, m, k, cfg } = real;
  eq(u32(core.x.lruCount(m)), model.order.size, 'lruCount');
  eq(u32(core.x.lruEvictions(m)), model.evictions, 'lruEvictions');
  const want = [...model.order].map(([kh, e]) => `${kh}=${e.value}${e.ref ? '*' : ''}`).join(' ');
  eq(lruWalk(real), want, 'list order (oldest -> newest)');
  for (const n of real.keys) {
    const key = keyBytes(n, cfg.keySize);
    core.write(k, key);
    const p = u32(core.x.lruPeek(m, k));
    const e = model.order.get(hex(key));
    eq(p === 0 ? undefined : hex(core.read(p, cfg.valueSize)), e?.value, `lruPeek(key ${n})`);
  }
  checkRegions(real);
}

class LruUpdate implements fc.Command<LruModel, LruReal> {
  constructor(readonly id: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: LruModel, real: LruReal): void {
    const { core, m, k, cfg } = real;
    const key = lruKey(real, this.id); const kh = hex(key);
    core.write(k, key);
    const p = u32(core.x.lruUpdate(m, k));
    eq(p !== 0, true, 'lruUpdate returns a value slot');
    const old = model.order.get(kh);
    const value = this.value.subarray(0, cfg.valueSize);
    let evicted = false;
    if (old) {
      eq(hex(core.read(p, cfg.valueSize)), old.value, 'lruUpdate of a present key keeps its value until written');
      old.value = hex(value); old.ref = true; // only the reference bit: the entry stays where it is
    } else {
      if (model.order.size >= cfg.maxEntries) {
        // second chance: referenced entries at the old end go to the front, bit cleared
        for (let [ok, oe] = model.order.entries().next().value!; oe.ref; [ok, oe] = model.order.entries().next().value!) {
          model.order.delete(ok);
          model.order.set(ok, { ...oe, ref: false });
        }
        model.order.delete(model.order.keys().next().value!);
        model.evictions++;
        evicted = true;
      }
      eq(hex(core.read(p, cfg.valueSize)), '00'.repeat(cfg.valueSize), 'a new entry starts zeroed');
      model.order.set(kh, { value: hex(value), ref: false }); // new entries go to the front, unreferenced
    }
    eq(core.x.lruLastEvicted(), evicted ? 1 : 0, 'lruLastEvicted');
    core.write(p, value);
    verifyLru(model, real);
  }
  toString(): string { return `update(${this.id}, ${hex(this.value)})`; }
}

class LruLookup implements fc.Command<LruModel, LruReal> {
  constructor(readonly id: number) {}
  check(): boolean { return true; }
  run(model: LruModel, real: LruReal): void {
    const { core, m, k, cfg } = real;
    const key = lruKey(real, this.id);
    core.write(k, key);
    const p = u32(core.x.lruLookup(m, k));
    const e = model.order.get(hex(key));
    eq(p === 0 ? undefined : hex(core.read(p, cfg.valueSize)), e?.value, 'lruLookup');
    if (e) e.ref = true; // a hit only sets the reference bit: nothing moves
    verifyLru(model, real);
  }
  toString(): string { return `lookup(${this.id})`; }
}

class LruPeek implements fc.Command<LruModel, LruReal> {
  constructor(readonly id: number) {}
  check(): boolean { return true; }
  run(model: LruModel, real: LruReal): void {
    const key = lruKey(real, this.id);
    real.core.write(real.k, key);
    const p = u32(real.core.x.lruPeek(real.m, real.k));
    eq(p === 0 ? undefined : hex(real.core.read(p, real.cfg.valueSize)), model.order.get(hex(key))?.value, 'lruPeek');
    verifyLru(model, real); // peeking must not change the order
  }
  toString(): string { return `peek(${this.id})`; }
}

class LruDelete implements fc.Command<LruModel, LruReal> {
  constructor(readonly id: number) {}
  check(): boolean { return true; }
  run(model: LruModel, real: LruReal): void {
    const key = lruKey(real, this.id);
    real.core.write(real.k, key);
    eq(real.core.x.lruDelete(real.m, real.k), model.order.delete(hex(key)) ? 1 : 0, 'lruDelete result');
    verifyLru(model, real);
  }
  toString(): string { return `delete(${this.id})`; }
}

class LruGrow implements fc.Command<LruModel, LruReal> {
  constructor(readonly size: number, readonly byte: number) {}
  check(model: Readonly<LruModel>): boolean { return model.grows < MAX_GROWS; }
  run(model: LruModel, real: LruReal): void {
    model.grows++;
    growMemory(real, this.size, this.byte);
    verifyLru(model, real);
  }
  toString(): string { return `grow(${this.size})`; }
}

const lruCommands = [
  fc.tuple(keyIdArb, valueArb).map(([id, v]) => new LruUpdate(id, v)),
  fc.tuple(keyIdArb, valueArb).map(([id, v]) => new LruUpdate(id, v)),
  keyIdArb.map((id) => new LruLookup(id)),
  keyIdArb.map((id) => new LruLookup(id)),
  keyIdArb.map((id) => new LruPeek(id)),
  keyIdArb.map((id) => new LruDelete(id)),
  growArb.map((g) => new LruGrow(g.size, g.byte)),
];

function runLruModel(file: string, cfg: LruCfg, cmds: Iterable<fc.Command<LruModel, LruReal>>): void {
  const keys = lruKeys(cfg);
  fc.modelRun(() => {
    const core = freshCore(file);
    const k = core.alloc(16);
    const m = u32(core.x.lruCreate(cfg.keySize, cfg.valueSize, cfg.maxEntries));
    eq(m !== 0, true, 'lruCreate');
    return {
      model: { cfg, keys, order: new Map(), evictions: 0, grows: 0 },
      real: { core, m, k, cfg, keys, regions: [] },
    };
  }, cmds);
}

// ---------------------------------------------------------------------------
// LPM map (longest prefix match over IPv4 addresses, host byte order)
// ---------------------------------------------------------------------------

interface LpmCfg { valueSize: number; maxEntries: number }
interface LpmEntry { addr: number; plen: number; value: string }
interface LpmModel { cfg: LpmCfg; entries: Map<string, LpmEntry>; probes: number[]; grows: number }
interface LpmReal extends Common { m: number; v: number; cfg: LpmCfg }

const maskOf = (plen: number): number => (plen === 0 ? 0 : u32(0xffffffff << (32 - plen)));
const contains = (e: LpmEntry, addr: number): boolean => u32(addr & maskOf(e.plen)) === e.addr;
const prefixId = (addr: number, plen: number): string => `${u32(addr & maskOf(plen))}/${plen}`;
const ip = (s: string): number => u32(s.split('.').reduce((a, o) => a * 256 + Number(o), 0));
const fmtIp = (a: number): string => [24, 16, 8, 0].map((s) => (a >>> s) & 255).join('.');

/** The stored prefix a correct LPM lookup of `addr` must return (brute force). */
function longestMatch(entries: Iterable<LpmEntry>, addr: number): LpmEntry | undefined {
  let best: LpmEntry | undefined;
  for (const e of entries) if (contains(e, addr) && (!best || e.plen > best.plen)) best = e;
  return best;
}

const ADDR_POOL = ['10.0.0.0', '10.1.0.0', '10.1.2.0', '10.1.2.3', '10.1.2.255', '10.255.255.255', '192.168.1.1',
  '0.0.0.0', '255.255.255.255', '128.0.0.0', '127.255.255.255', '172.16.0.1'].map(ip);
const addrArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ADDR_POOL) },
  // a pool address with one bit flipped: overlapping prefixes that differ at one length
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...ADDR_POOL), fc.nat(31)).map(([a, b]) => u32(a ^ (1 << b))) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const plenArb = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 32 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 8, 16, 24, 32) },
  { weight: 1, arbitrary: fc.constantFrom(33, 40, 63, 64, 0xffffffff) }, // invalid: -EINVAL / false
);
const lpmCfgArb: fc.Arbitrary<LpmCfg> = fc.record({
  valueSize: fc.constantFrom(1, 4, 8, 12),
  maxEntries: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constant(64)),
});

function verifyLpm(model: LpmModel, real: LpmReal): void {
  const { core, m, cfg } = real;
  eq(u32(core.x.lpmCount(m)), model.entries.size, 'lpmCount');
  const probes = new Set<number>([...ADDR_POOL, ...model.probes]);
  for (const e of model.entries.values()) {
    const p = u32(core.x.lpmGet(m, e.addr, e.plen));
    eq(p !== 0 ? hex(core.read(p, cfg.valueSize)) : undefined, e.value, `lpmGet(${fmtIp(e.addr)}/${e.plen})`);
    const last = u32(e.addr | ~maskOf(e.plen));
    for (const a of [e.addr, last, u32(e.addr - 1), u32(last + 1), u32(e.addr ^ 1)]) probes.add(a);
  }
  for (const a of probes) {
    const want = longestMatch(model.entries.values(), a);
    const got = u32(core.x.lpmLookup(m, a));
    // Compare identities: the looked-up pointer must be the exact prefix's value slot.
    const wantPtr = want ? u32(core.x.lpmGet(m, want.addr, want.plen)) : 0;
    eq(got, wantPtr, `lpmLookup(${fmtIp(a)}) should hit ${want ? `${fmtIp(want.addr)}/${want.plen}` : 'nothing'}`);
  }
  checkRegions(real);
}

class LpmUpdate implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly addr: number, readonly plen: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const value = this.value.subarray(0, real.cfg.valueSize);
    real.core.write(real.v, value);
    const rc = real.core.x.lpmUpdate(real.m, this.addr, this.plen, real.v);
    let want = MAP_OK;
    if (this.plen > 32) want = EINVAL;
    else {
      const id = prefixId(this.addr, this.plen);
      if (model.entries.has(id) || model.entries.size < model.cfg.maxEntries) {
        model.entries.set(id, { addr: u32(this.addr & maskOf(this.plen)), plen: this.plen, value: hex(value) });
      } else want = E2BIG;
    }
    eq(rc, want, `lpmUpdate rc`);
    model.probes = [this.addr, ...model.probes].slice(0, 16);
    verifyLpm(model, real);
  }
  toString(): string { return `update(${fmtIp(this.addr)}/${this.plen}, ${hex(this.value)})`; }
}

class LpmDelete implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly addr: number, readonly plen: number) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const rc = real.core.x.lpmDelete(real.m, this.addr, this.plen);
    const want = this.plen <= 32 && model.entries.delete(prefixId(this.addr, this.plen));
    eq(rc, want ? 1 : 0, 'lpmDelete result');
    verifyLpm(model, real);
  }
  toString(): string { return `delete(${fmtIp(this.addr)}/${this.plen})`; }
}

/**
 * A stored prefix picked at run time (random host bits set), so overwrites and
 * deletes hit present prefixes often; with no prefix stored, a random one.
 */
function pickPrefix(model: LpmModel, pick: number, hostBits: number): [number, number] {
  const all = [...model.entries.values()];
  if (all.length === 0) return [u32(hostBits), pick % 33];
  const e = all[pick % all.length];
  return [u32(e.addr | (hostBits & ~maskOf(e.plen))), e.plen];
}

class LpmUpdateExisting implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly pick: number, readonly hostBits: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const [addr, plen] = pickPrefix(model, this.pick, this.hostBits);
    new LpmUpdate(addr, plen, this.value).run(model, real);
  }
  toString(): string { return `updateExisting(#${this.pick}, host ${this.hostBits}, ${hex(this.value)})`; }
}

/** A sibling of a stored prefix: same length, one network bit flipped (or /0 if none stored). */
class LpmUpdateSibling implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly pick: number, readonly bit: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const [addr, plen] = pickPrefix(model, this.pick, 0);
    const flip = plen === 0 ? 0 : 1 << (31 - (this.bit % plen));
    new LpmUpdate(u32(addr ^ flip), plen, this.value).run(model, real);
  }
  toString(): string { return `updateSibling(#${this.pick}, bit ${this.bit}, ${hex(this.value)})`; }
}

class LpmDeleteExisting implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly pick: number, readonly hostBits: number) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const [addr, plen] = pickPrefix(model, this.pick, this.hostBits);
    new LpmDelete(addr, plen).run(model, real);
  }
  toString(): string { return `deleteExisting(#${this.pick}, host ${this.hostBits})`; }
}

class LpmLookup implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly addr: number) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const p = u32(real.core.x.lpmLookup(real.m, this.addr));
    const want = longestMatch(model.entries.values(), this.addr);
    eq(p === 0 ? undefined : hex(real.core.read(p, real.cfg.valueSize)), want?.value, `lpmLookup(${fmtIp(this.addr)})`);
    model.probes = [this.addr, ...model.probes].slice(0, 16);
  }
  toString(): string { return `lookup(${fmtIp(this.addr)})`; }
}

class LpmGet implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly addr: number, readonly plen: number) {}
  check(): boolean { return true; }
  run(model: LpmModel, real: LpmReal): void {
    const p = u32(real.core.x.lpmGet(real.m, this.addr, this.plen));
    const want = this.plen <= 32 ? model.entries.get(prefixId(this.addr, this.plen))?.value : undefined;
    eq(p === 0 ? undefined : hex(real.core.read(p, real.cfg.valueSize)), want, `lpmGet(${fmtIp(this.addr)}/${this.plen})`);
  }
  toString(): string { return `get(${fmtIp(this.addr)}/${this.plen})`; }
}

class LpmGrow implements fc.Command<LpmModel, LpmReal> {
  constructor(readonly size: number, readonly byte: number) {}
  check(model: Readonly<LpmModel>): boolean { return model.grows < MAX_GROWS; }
  run(model: LpmModel, real: LpmReal): void {
    model.grows++;
    growMemory(real, this.size, this.byte);
    verifyLpm(model, real);
  }
  toString(): string { return `grow(${this.size})`; }
}

const lpmCommands = [
  fc.tuple(addrArb, plenArb, valueArb).map(([a, p, v]) => new LpmUpdate(a, p, v)),
  fc.tuple(addrArb, plenArb, valueArb).map(([a, p, v]) => new LpmUpdate(a, p, v)),
  fc.tuple(addrArb, plenArb).map(([a, p]) => new LpmDelete(a, p)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), valueArb).map(([i, h, v]) => new LpmUpdateExisting(i, h, v)),
  fc.tuple(fc.nat(), fc.nat(31), valueArb).map(([i, b, v]) => new LpmUpdateSibling(i, b, v)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })).map(([i, h]) => new LpmDeleteExisting(i, h)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })).map(([i, h]) => new LpmDeleteExisting(i, h)),
  addrArb.map((a) => new LpmLookup(a)),
  fc.tuple(addrArb, plenArb).map(([a, p]) => new LpmGet(a, p)),
  growArb.map((g) => new LpmGrow(g.size, g.byte)),
];

function runLpmModel(file: string, cfg: LpmCfg, cmds: Iterable<fc.Command<LpmModel, LpmReal>>): void {
  fc.modelRun(() => {
    const core = freshCore(file);
    const v = core.alloc(16);
    const m = u32(core.x.lpmCreate(cfg.valueSize, cfg.maxEntries));
    eq(m !== 0, true, 'lpmCreate');
    return { model: { cfg, entries: new Map(), probes: [], grows: 0 }, real: { core, m, v, cfg, regions: [] } };
  }, cmds);
}

// ---------------------------------------------------------------------------
// Array map (BPF_MAP_TYPE_ARRAY): two arrays side by side, so an element that
// strays outside its array would show up in the other one.
// ---------------------------------------------------------------------------

interface ArrayCfg { valueSize: number; capacity: [number, number] }
interface ArrayModel { cfg: ArrayCfg; values: [string[], string[]]; grows: number }
interface ArrayReal extends Common { m: [number, number]; cfg: ArrayCfg }

const arrayCfgArb: fc.Arbitrary<ArrayCfg> = fc.record({
  valueSize: fc.integer({ min: 1, max: 16 }),
  capacity: fc.tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 })),
});

function verifyArrays(model: ArrayModel, real: ArrayReal): void {
  const { core, cfg } = real;
  for (const w of [0, 1] as const) {
    const m = real.m[w]; const cap = cfg.capacity[w];
    eq(u32(core.x.arrayCapacity(m)), cap, `arrayCapacity[${w}]`);
    const base = u32(core.x.arrayGet(m, 0));
    for (let i = 0; i < cap; i++) {
      const p = u32(core.x.arrayGet(m, i));
      eq(p, base + i * cfg.valueSize, `arrayGet(${w}, ${i}) is contiguous`);
      eq(hex(core.read(p, cfg.valueSize)), model.values[w][i], `array[${w}][${i}]`);
    }
    for (const i of [cap, cap + 1, 0x7fffffff, 0xffffffff]) eq(u32(core.x.arrayGet(m, i)), 0, `arrayGet(${w}, ${i}) out of range`);
  }
  checkRegions(real);
}

class ArrayWrite implements fc.Command<ArrayModel, ArrayReal> {
  constructor(readonly which: 0 | 1, readonly i: number, readonly value: Uint8Array) {}
  check(): boolean { return true; }
  run(model: ArrayModel, real: ArrayReal): void {
    const cap = real.cfg.capacity[this.which];
    const p = u32(real.core.x.arrayGet(real.m[this.which], this.i));
    if (this.i >= cap) eq(p, 0, 'arrayGet out of range');
    else {
      const value = this.value.subarray(0, real.cfg.valueSize);
      real.core.write(p, value);
      model.values[this.which][this.i] = hex(value);
    }
    verifyArrays(model, real);
  }
  toString(): string { return `write(${this.which}, ${this.i}, ${hex(this.value)})`; }
}

class ArrayGrow implements fc.Command<ArrayModel, ArrayReal> {
  constructor(readonly size: number, readonly byte: number) {}
  check(model: Readonly<ArrayModel>): boolean { return model.grows < MAX_GROWS; }
  run(model: ArrayModel, real: ArrayReal): void {
    model.grows++;
    growMemory(real, this.size, this.byte);
    verifyArrays(model, real);
  }
  toString(): string { return `grow(${this.size})`; }
}

const arrayCommands = [
  fc.tuple(fc.constantFrom(0 as const, 1 as const), fc.nat(70), valueArb).map(([w, i, v]) => new ArrayWrite(w, i, v)),
  growArb.map((g) => new ArrayGrow(g.size, g.byte)),
];

function runArrayModel(file: string, cfg: ArrayCfg, cmds: Iterable<fc.Command<ArrayModel, ArrayReal>>): void {
  fc.modelRun(() => {
    const core = freshCore(file);
    const m: [number, number] = [u32(core.x.arrayCreate(cfg.valueSize, cfg.capacity[0])),
      u32(core.x.arrayCreate(cfg.valueSize, cfg.capacity[1]))];
    eq(m[0] !== 0 && m[1] !== 0, true, 'arrayCreate');
    const zero = '00'.repeat(cfg.valueSize);
    return {
      model: { cfg, values: [Array<string>(cfg.capacity[0]).fill(zero), Array<string>(cfg.capacity[1]).fill(zero)] as [string[], string[]], grows: 0 },
      real: { core, m, cfg, regions: [] },
    };
  }, cmds);
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

describe('model-based: the maps agree with a JS model after every command', () => {
  it('hash map: insert/overwrite/refuse-when-full/delete/lookup, with memory growth', () => {
    fc.assert(fc.property(hashCfgArb, fc.commands(hashCommands, { maxCommands: MAX_COMMANDS }),
      (cfg, cmds) => runHashModel(RELEASE_WASM, cfg, cmds)), { numRuns: RUNS.hash });
  });

  it('LRU map (CLOCK / second chance): insert/reference/evict/delete, full list order and reference bits after every command, with memory growth', () => {
    fc.assert(fc.property(lruCfgArb, fc.commands(lruCommands, { maxCommands: MAX_COMMANDS }),
      (cfg, cmds) => runLruModel(RELEASE_WASM, cfg, cmds)), { numRuns: RUNS.lru });
  });

  it('LPM map: longest prefix match equals a brute-force search over the stored prefixes', () => {
    fc.assert(fc.property(lpmCfgArb, fc.commands(lpmCommands, { maxCommands: MAX_COMMANDS }),
      (cfg, cmds) => runLpmModel(RELEASE_WASM, cfg, cmds)), { numRuns: RUNS.lpm });
  });

  it('array map: in-range elements are contiguous and independent, out-of-range yields 0', () => {
    fc.assert(fc.property(arrayCfgArb, fc.commands(arrayCommands, { maxCommands: 40 }),
      (cfg, cmds) => runArrayModel(RELEASE_WASM, cfg, cmds)), { numRuns: RUNS.array });
  });
});

// ---------------------------------------------------------------------------
// Examples a newcomer can read
// ---------------------------------------------------------------------------

describe('hash map examples', () => {
  it('a full map refuses the N+1th key with -E2BIG and counts it, but still overwrites present keys', () => {
    const core = freshCore();
    const k = core.alloc(8); const v = core.alloc(4);
    const m = u32(core.x.hashCreate(8, 4, 3));
    const put = (key: number, value: number): number => {
      core.write(k, keyBytes(key, 8)); core.write(v, new Uint8Array([value, 0, 0, 0]));
      return core.x.hashUpdate(m, k, v);
    };
    const get = (key: number): number | undefined => {
      core.write(k, keyBytes(key, 8));
      const p = u32(core.x.hashLookup(m, k));
      return p === 0 ? undefined : core.read(p, 1)[0];
    };
    expect([put(1, 10), put(2, 20), put(3, 30)]).toEqual([0, 0, 0]);
    expect(put(4, 40)).toBe(E2BIG);                     // the 4th key does not fit
    expect(u32(core.x.hashFailures(m))).toBe(1);
    expect(u32(core.x.hashCount(m))).toBe(3);
    expect(get(4)).toBeUndefined();
    expect(put(2, 21)).toBe(0);                         // overwriting needs no room
    expect(get(2)).toBe(21);
    core.write(k, keyBytes(1, 8));
    expect(core.x.hashDelete(m, k)).toBe(1);
    expect(core.x.hashDelete(m, k)).toBe(0);            // already gone
    expect(put(4, 40)).toBe(0);                         // room again
    expect([get(1), get(2), get(3), get(4)]).toEqual([undefined, 21, 30, 40]);
    expect(u32(core.x.hashFailures(m))).toBe(1);
  });

  it('deleting the head of a probe run that wraps past the last slot shifts the run back (no tombstones)', () => {
    const core = freshCore();
    const k = core.alloc(8); const v = core.alloc(4);
    const m = u32(core.x.hashCreate(8, 4, 4)); // 8 slots, stride (4 + 8 + 4) = 16 bytes
    const stride = 16;
    // Three keys whose home is the last slot (7) and one whose home is slot 1.
    const [a, b, c] = keysWithHomes(3, 8, [7], (key) => hashHome(key, 8));
    const [d] = keysWithHomes(1, 8, [1], (key) => hashHome(key, 8));
    const ptr = (key: number): number => { core.write(k, keyBytes(key, 8)); return u32(core.x.hashLookup(m, k)); };
    for (const key of [a, b, c, d]) {
      core.write(k, keyBytes(key, 8)); core.write(v, new Uint8Array([key & 255, 1, 2, 3]));
      expect(core.x.hashUpdate(m, k, v)).toBe(0);
    }
    // a sits in slot 7, b wrapped to slot 0, c to slot 1, d (home 1) was pushed to slot 2.
    const slot7 = ptr(a);
    expect(ptr(b)).toBe(slot7 - 7 * stride);
    expect(ptr(c)).toBe(slot7 - 6 * stride);
    expect(ptr(d)).toBe(slot7 - 5 * stride);
    core.write(k, keyBytes(a, 8));
    expect(core.x.hashDelete(m, k)).toBe(1);
    // Backward shift: b -> 7, c -> 0, d -> 1 (its home); slot 2 is empty again.
    expect(ptr(a)).toBe(0);
    expect(ptr(b)).toBe(slot7);
    expect(ptr(c)).toBe(slot7 - 7 * stride);
    expect(ptr(d)).toBe(slot7 - 6 * stride);
    for (const key of [b, c, d]) expect(core.read(ptr(key), 1)[0]).toBe(key & 255);
  });

  it('refuses bad arguments at creation', () => {
    const { x } = freshCore();
    expect(x.hashCreate(0, 4, 4)).toBe(0);   // empty key
    expect(x.hashCreate(6, 4, 4)).toBe(0);   // key not a whole number of u32 words
    expect(x.hashCreate(8, 4, 0)).toBe(0);   // no room
    expect(x.hashCreate(8, 4, (1 << 28) + 1)).toBe(0);
    expect(x.lruCreate(6, 4, 4)).toBe(0);
    expect(x.lpmCreate(4, 0)).toBe(0);
    expect(x.arrayCreate(0, 4)).toBe(0);
    expect(x.arrayCreate(4, 0)).toBe(0);
  });
});

describe('LRU map examples', () => {
  it('keeps a frequently used key while evicting older ones', () => {
    const core = freshCore();
    const k = core.alloc(8);
    const m = u32(core.x.lruCreate(8, 4, 3));
    const put = (key: number): number => {
      core.write(k, keyBytes(key, 8));
      const p = u32(core.x.lruUpdate(m, k));
      core.write(p, new Uint8Array([key, 0, 0, 0]));
      return core.x.lruLastEvicted();
    };
    const use = (key: number): boolean => { core.write(k, keyBytes(key, 8)); return core.x.lruLookup(m, k) !== 0; };
    const order = (): number[] => {
      const out: number[] = [];
      for (let s = u32(core.x.lruOldest(m)); s !== 0; s = u32(core.x.lruNewer(m, s))) out.push(core.read(u32(core.x.lruValueOf(m, s)), 1)[0]);
      return out;
    };
    expect([put(1), put(2), put(3)]).toEqual([0, 0, 0]);
    expect(order()).toEqual([1, 2, 3]);           // least -> most recent
    for (let key = 4; key < 10; key++) {
      expect(use(1)).toBe(true);                  // key 1 is used before every insert...
      expect(put(key)).toBe(1);                   // ...so each insert evicts someone else
    }
    // 1 only gets a reference bit when used; each eviction that reaches it moves it to the front.
    expect(order()).toEqual([1, 8, 9]);
    expect(u32(core.x.lruEvictions(m))).toBe(6);
    expect(use(2)).toBe(false);
  });

  it('second chance (CLOCK, as the kernel LRU): a referenced entry is kept instead of being evicted', () => {
    const core = freshCore();
    const k = core.alloc(4);
    const m = u32(core.x.lruCreate(4, 4, 3));
    const put = (key: number): number => { core.write(k, keyBytes(key, 4)); core.x.lruUpdate(m, k); return core.x.lruLastEvicted(); };
    const use = (key: number): number => { core.write(k, keyBytes(key, 4)); return u32(core.x.lruLookup(m, k)); };
    const order = (): string[] => {
      const out: string[] = [];
      for (let s = u32(core.x.lruOldest(m)); s !== 0; s = u32(core.x.lruNewer(m, s))) {
        out.push(`${core.read(u32(core.x.lruKeyOf(s)), 4)[0]}${core.x.lruReferenced(s) ? '*' : ''}`);
      }
      return out;
    };
    put(1); put(2); put(3);
    expect(order()).toEqual(['1', '2', '3']);     // oldest -> newest
    use(1);
    expect(order()).toEqual(['1*', '2', '3']);    // a lookup sets the bit, nothing moves
    expect(put(4)).toBe(1);                       // 1 is spared (moved to the front, bit cleared), 2 goes
    expect(order()).toEqual(['3', '1', '4']);
    core.write(k, keyBytes(3, 4));
    expect(core.x.lruPeek(m, k)).not.toBe(0);
    expect(order()).toEqual(['3', '1', '4']);     // peek leaves the bit alone
    put(3);
    expect(order()).toEqual(['3*', '1', '4']);    // updating a present key sets the bit
    expect(put(5)).toBe(1);
    expect(order()).toEqual(['4', '3', '5']);     // 3 spared, 1 evicted
    expect(use(1)).toBe(0);
    expect(u32(core.x.lruEvictions(m))).toBe(2);
  });
});

describe('LPM map examples', () => {
  it('/32 beats /24 beats /0, host bits are masked, bad lengths are refused', () => {
    const core = freshCore();
    const v = core.alloc(4);
    const m = u32(core.x.lpmCreate(4, 8));
    const put = (cidr: string, tag: number): number => {
      const [a, l] = cidr.split('/');
      core.write(v, new Uint8Array([tag, 0, 0, 0]));
      return core.x.lpmUpdate(m, ip(a), Number(l), v);
    };
    const tagOf = (addr: string): number | undefined => {
      const p = u32(core.x.lpmLookup(m, ip(addr)));
      return p === 0 ? undefined : core.read(p, 1)[0];
    };
    expect(tagOf('10.1.2.3')).toBeUndefined();
    expect(put('0.0.0.0/0', 1)).toBe(0);
    expect(put('10.1.2.99/24', 24)).toBe(0);     // stored as 10.1.2.0/24
    expect(put('10.1.2.3/32', 32)).toBe(0);
    expect(put('10.1.2.3/33', 99)).toBe(EINVAL);
    expect(u32(core.x.lpmCount(m))).toBe(3);
    expect(tagOf('10.1.2.3')).toBe(32);
    expect(tagOf('10.1.2.4')).toBe(24);
    expect(tagOf('10.1.3.4')).toBe(1);
    expect(tagOf('255.255.255.255')).toBe(1);
    expect(core.x.lpmGet(m, ip('10.1.2.0'), 24)).not.toBe(0);
    expect(core.x.lpmDelete(m, ip('10.1.2.77'), 24)).toBe(1); // host bits masked on delete too
    expect(tagOf('10.1.2.4')).toBe(1);
    expect(tagOf('10.1.2.3')).toBe(32);
    expect(core.x.lpmDelete(m, 0, 0)).toBe(1);
    expect(tagOf('10.1.2.4')).toBeUndefined();
  });
});

describe('memory growth', () => {
  it('entries written before growth are still found afterwards (through fresh views)', () => {
    const core = freshCore();
    const k = core.alloc(16); const v = core.alloc(8);
    const h = u32(core.x.hashCreate(16, 8, 64));
    for (let n = 0; n < 64; n++) {
      core.write(k, keyBytes(n, 16)); core.write(v, new Uint8Array([n, 1, 2, 3, 4, 5, 6, 7]));
      expect(core.x.hashUpdate(h, k, v)).toBe(0);
    }
    const before = core.x.memory.buffer;
    const big = u32(core.x.hashCreate(16, 64, 1 << 15)); // ~5.5 MiB of slots
    expect(big).not.toBe(0);
    expect(core.memoryBytes()).toBeGreaterThan(before.byteLength === 0 ? 1 << 20 : before.byteLength);
    expect(before.byteLength).toBe(0); // the old ArrayBuffer is detached: views must be re-made
    for (let n = 0; n < 64; n++) {
      core.write(k, keyBytes(n, 16));
      const p = u32(core.x.hashLookup(h, k));
      expect(p).not.toBe(0);
      expect(Array.from(core.read(p, 8))).toEqual([n, 1, 2, 3, 4, 5, 6, 7]);
    }
  });
});

// ---------------------------------------------------------------------------
// Map sizes: a table that cannot fit in the 4 GiB address space must be refused
// (create returns 0). Sizes were once computed in 32-bit arithmetic, so a large
// enough map wrapped to a small size, "succeeded", and its first access trapped
// or wrote over other maps; now they are computed in 64 bits.
// ---------------------------------------------------------------------------

describe('map sizes that would wrap at 2^32 are refused', () => {
  it('refuses a map whose table would not fit in 32-bit memory: hashCreate(16, 8, 1 << 26)', () => {
    const { x } = freshCore();
    const k = x.scratchAlloc(16); const v = x.scratchAlloc(8);
    const before = u32(x.allocatedBytes());
    const m = u32(x.hashCreate(16, 8, 1 << 26)); // 2^27 slots x 32 bytes = 2^32 -> wraps to 0 bytes
    const allocated = u32(x.allocatedBytes()) - before;
    let insert = 'not tried';
    if (m !== 0) try { insert = `returned ${x.hashUpdate(m, k, v)}`; } catch (e) { insert = `trapped: ${(e as Error).message}`; }
    expect(m, `hashCreate returned a map after allocating ${allocated} bytes; its first hashUpdate ${insert}`).toBe(0);
  });

  it('refuses hashCreate(4, 4, 1 << 28) and lruCreate(4, 4, 1 << 28) (sizes computed in 64 bits)', () => {
    const { x } = freshCore();
    expect(u32(x.hashCreate(4, 4, 1 << 28)), 'hashCreate').toBe(0);   // 2^29 slots x 16 bytes = 2^33 -> 0
    expect(u32(x.lruCreate(4, 4, 1 << 28)), 'lruCreate').toBe(0);  // 2^29 slots x 24 bytes = 3 * 2^32 -> 0
  });

  it('refuses hashCreate with a huge valueSize (the stride would wrap to 0)', () => {
    const { x } = freshCore();
    expect(u32(x.hashCreate(4, 0xfffffff8, 1))).toBe(0); // stride (4 + 4 + 0xfffffff8 + 7) & ~7 = 0
  });

  it('refuses arrayCreate(65536, 65537) rather than alias element 65536 onto element 0', () => {
    const core = freshCore();
    const a = u32(core.x.arrayCreate(65536, 65537));    // 65536 * 65537 bytes wraps to 64 KiB
    // Actual: a map whose elements 0 and 65536 share one address, and whose element 1 lies past the
    // 64 KiB actually allocated, where the next map created will live.
    const aliases = a !== 0 && u32(core.x.arrayGet(a, 65536)) === u32(core.x.arrayGet(a, 0));
    expect(a, `arrayCreate returned a map; arrayGet(65536) === arrayGet(0): ${aliases}`).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// The debug build (optimizeLevel 0, assertions on) behaves the same
// ---------------------------------------------------------------------------

describe('debug build', () => {
  it('smoke: create each map, insert, look up', async () => {
    const core = await loadCore(DEBUG_WASM);
    const k = core.alloc(16); const v = core.alloc(16);
    const h = u32(core.x.hashCreate(8, 4, 4));
    core.write(k, keyBytes(7, 8)); core.write(v, new Uint8Array([42, 0, 0, 0]));
    expect(core.x.hashUpdate(h, k, v)).toBe(0);
    expect(core.read(u32(core.x.hashLookup(h, k)), 1)[0]).toBe(42);

    const l = u32(core.x.lruCreate(8, 4, 4));
    const p = u32(core.x.lruUpdate(l, k));
    core.write(p, new Uint8Array([43, 0, 0, 0]));
    expect(core.read(u32(core.x.lruLookup(l, k)), 1)[0]).toBe(43);
    expect(u32(core.x.lruKeyOf(u32(core.x.lruOldest(l))))).toBe(p - 8);

    const lpm = u32(core.x.lpmCreate(4, 4));
    core.write(v, new Uint8Array([44, 0, 0, 0]));
    expect(core.x.lpmUpdate(lpm, ip('10.0.0.0'), 8, v)).toBe(0);
    expect(core.read(u32(core.x.lpmLookup(lpm, ip('10.9.9.9'))), 1)[0]).toBe(44);

    const a = u32(core.x.arrayCreate(4, 4));
    expect(u32(core.x.arrayGet(a, 3)) - u32(core.x.arrayGet(a, 0))).toBe(12);
    expect(core.x.arrayGet(a, 4)).toBe(0);
  });

  it('a few model runs of every map pass against the debug build too', () => {
    const opts = { numRuns: RUNS.debug };
    fc.assert(fc.property(hashCfgArb, fc.commands(hashCommands, { maxCommands: 40 }), (c, cmds) => runHashModel(DEBUG_WASM, c, cmds)), opts);
    fc.assert(fc.property(lruCfgArb, fc.commands(lruCommands, { maxCommands: 40 }), (c, cmds) => runLruModel(DEBUG_WASM, c, cmds)), opts);
    fc.assert(fc.property(lpmCfgArb, fc.commands(lpmCommands, { maxCommands: 40 }), (c, cmds) => runLpmModel(DEBUG_WASM, c, cmds)), opts);
    fc.assert(fc.property(arrayCfgArb, fc.commands(arrayCommands, { maxCommands: 20 }), (c, cmds) => runArrayModel(DEBUG_WASM, c, cmds)), opts);
  });
});
