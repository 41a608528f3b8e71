// Test helper: load the compiled core and talk to its map shims (the exports at
// the bottom of assembly/index.ts) with raw byte keys and values.
//
// The core has no imports, so a plain WebAssembly.instantiate is enough. Every
// read or write makes a fresh Uint8Array view: linear memory can grow whenever a
// map is created, and growth detaches views made before it.

import fs from 'node:fs';

/** The map-related exports. u32 results arrive as i32 (apply >>> 0); bool results are 0/1. */
export interface MapExports {
  memory: WebAssembly.Memory;
  scratchAlloc(size: number): number;
  allocatedBytes(): number;

  hashCreate(keySize: number, valueSize: number, maxEntries: number): number;
  hashLookup(m: number, key: number): number;
  hashUpdate(m: number, key: number, value: number): number;
  hashDelete(m: number, key: number): number;
  hashCount(m: number): number;
  hashFailures(m: number): number;

  // The LRU is CLOCK / second chance (assembly/maps/lru.ts): lookups and updates of
  // present keys set the entry's reference bit; eviction moves referenced entries
  // from the old end to the front (bit cleared) until it finds an unreferenced one.
  lruCreate(keySize: number, valueSize: number, maxEntries: number): number;
  lruLookup(m: number, key: number): number;
  lruPeek(m: number, key: number): number;
  lruUpdate(m: number, key: number): number;
  lruDelete(m: number, key: number): number;
  lruCount(m: number): number;
  lruEvictions(m: number): number;
  lruOldest(m: number): number;
  lruNewer(m: number, slot: number): number;
  lruKeyOf(slot: number): number;
  lruValueOf(m: number, slot: number): number;
  lruLastEvicted(): number;
  /** The slot's reference bit (1 once looked up or updated since it was last given a second chance). */
  lruReferenced(slot: number): number;

  lpmCreate(valueSize: number, maxEntries: number): number;
  lpmUpdate(m: number, addr: number, plen: number, value: number): number;
  lpmDelete(m: number, addr: number, plen: number): number;
  lpmLookup(m: number, addr: number): number;
  lpmGet(m: number, addr: number, plen: number): number;
  lpmCount(m: number): number;

  arrayCreate(valueSize: number, capacity: number): number;
  arrayGet(m: number, i: number): number;
  arrayCapacity(m: number): number;
}

export const RELEASE_WASM = 'build/release.wasm';
export const DEBUG_WASM = 'build/debug.wasm';

const modules = new Map<string, WebAssembly.Module>();

/** Compile (once per file) with plain WebAssembly.instantiate; returns a first instance's exports. */
export async function loadCore(file = RELEASE_WASM): Promise<Core> {
  const { module, instance } = await WebAssembly.instantiate(fs.readFileSync(file), {});
  modules.set(file, module);
  return new Core(instance.exports as unknown as MapExports);
}

/** A fresh instance (fresh 1 MiB memory, empty heap) of an already compiled file: cheap and synchronous. */
export function freshCore(file = RELEASE_WASM): Core {
  const module = modules.get(file);
  if (!module) throw new Error(`call loadCore('${file}') first`);
  return new Core(new WebAssembly.Instance(module, {}).exports as unknown as MapExports);
}

export class Core {
  constructor(readonly x: MapExports) {}

  /** A new view on every call: never keep one across a call that may allocate. */
  bytes(): Uint8Array { return new Uint8Array(this.x.memory.buffer); }
  memoryBytes(): number { return this.x.memory.buffer.byteLength; }

  alloc(size: number): number {
    const p = this.x.scratchAlloc(size) >>> 0;
    if (p === 0) throw new Error(`scratchAlloc(${size}) failed`);
    return p;
  }
  write(ptr: number, data: Uint8Array): void { this.bytes().set(data, ptr); }
  read(ptr: number, len: number): Uint8Array { return this.bytes().slice(ptr, ptr + len); }
  fill(ptr: number, len: number, byte: number): void { this.bytes().fill(byte, ptr, ptr + len); }
}

/**
 * Key bytes for key number `n`: keySize/4 little-endian u32 words, word w < last
 * holding bits 2w..2w+1 of n and the last word the rest, so small key numbers
 * differ in every word position (exercising the 8-, 16-byte and word-loop compares).
 */
export function keyBytes(n: number, keySize: number): Uint8Array {
  const words = keySize >>> 2;
  const out = new Uint8Array(keySize);
  const dv = new DataView(out.buffer);
  for (let w = 0; w < words; w++) {
    const word = w < words - 1 ? (n >>> (2 * w)) & 3 : Math.floor(n / 4 ** (words - 1)) >>> 0;
    dv.setUint32(w * 4, word >>> 0, true);
  }
  return out;
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- mirror of assembly/hash.ts hashWords (murmur3-32 over u32 words) ----

function mixWord(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51); w = (w << 15) | (w >>> 17); w = Math.imul(w, 0x1b873593);
  h ^= w; h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}
function fmix32(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
export function hashWords(key: Uint8Array, seed: number): number {
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const words = key.byteLength >>> 2;
  let h = seed >>> 0;
  for (let i = 0; i < words; i++) h = mixWord(h, dv.getUint32(i * 4, true));
  return fmix32((h ^ (words << 2)) >>> 0);
}

export const HASH_SEED = 0x6470656d; // assembly/maps/hash.ts
export const LRU_SEED = 0x6c727531;  // assembly/maps/lru.ts

/** Home slot of a key in the hash map: the tag is hash | 1, the home is (tag >> 1) & mask (assembly/maps/hash.ts). */
export function hashHome(key: Uint8Array, slots: number): number {
  return (((hashWords(key, HASH_SEED) | 1) >>> 0) >>> 1) & (slots - 1);
}
/** Home slot of a key in the LRU map. */
export function lruHome(key: Uint8Array, slots: number): number {
  return hashWords(key, LRU_SEED) & (slots - 1);
}

/**
 * The first `count` key numbers whose key (keySize bytes) has its home slot in `homes`.
 * Using home functions over 32 slots (homes 31 and 0/1) gives keys that share the last slot
 * / slot 0-1 in EVERY table of 8, 16 or 32 slots, whatever the load factor rule (slotsFor).
 */
export function keysWithHomes(count: number, keySize: number, homes: number[], home: (k: Uint8Array) => number): number[] {
  const out: number[] = [];
  for (let n = 0; out.length < count; n++) {
    if (homes.includes(home(keyBytes(n, keySize)))) out.push(n);
  }
  return out;
}
