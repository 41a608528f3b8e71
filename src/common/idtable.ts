// A hash table from integer keys (0 <= key < 2^53) to ids (0 <= id < 2^31), in typed arrays.
//
// Why not a Map: the control plane keys every backend by one number (address, port, protocol: 50 bits),
// and a Map of 100,000 such keys holds a heap-allocated number per key and an entry object per slot; a
// lookup follows three pointers (three cache misses on a cold table) and every key is garbage the collector
// copies. Here a lookup reads one slot of a Float64Array and one of an Int32Array (open addressing, linear
// probing), and nothing is allocated per key.

const EMPTY = -1, DELETED = -2;

export class IdTable {
  private keys: Float64Array;
  private ids: Int32Array;
  private mask: number;
  private used = 0; // live keys + deleted slots (what probing walks over)
  private live = 0;

  constructor(capacity = 16) {
    let n = 16;
    while (n < 2 * capacity) n *= 2;
    this.keys = new Float64Array(n);
    this.ids = new Int32Array(n).fill(EMPTY);
    this.mask = n - 1;
  }

  get size(): number { return this.live; }

  /** A copy (its own arrays). */
  clone(): IdTable {
    const c = new IdTable();
    c.keys = this.keys.slice(); c.ids = this.ids.slice(); c.mask = this.mask; c.used = this.used; c.live = this.live;
    return c;
  }

  /** The slot of `key`, or of the empty slot where it would go. */
  private slot(key: number): number {
    const lo = key >>> 0, hi = (key - lo) / 4294967296;
    // murmur3's finalizer over both halves: backend keys differ in their high bits (the address) only.
    let h = lo ^ Math.imul(hi, 0x9e3779b1);
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    let i = h & this.mask, firstDeleted = -1;
    for (;;) {
      const id = this.ids[i];
      if (id === EMPTY) return firstDeleted >= 0 ? firstDeleted : i;
      if (id === DELETED) { if (firstDeleted < 0) firstDeleted = i; } else if (this.keys[i] === key) return i;
      i = (i + 1) & this.mask;
    }
  }

  get(key: number): number | undefined {
    const i = this.slot(key);
    return this.ids[i] >= 0 && this.keys[i] === key ? this.ids[i] : undefined;
  }

  has(key: number): boolean { return this.get(key) !== undefined; }

  set(key: number, id: number): void {
    if (!(Number.isInteger(key) && key >= 0 && key < 2 ** 53)) throw new RangeError(`IdTable: key ${key} is not an integer in 0..2^53`);
    if (!(Number.isInteger(id) && id >= 0 && id <= 0x7fffffff)) throw new RangeError(`IdTable: id ${id} is not in 0..2^31-1`);
    let i = this.slot(key);
    if (this.ids[i] >= 0 && this.keys[i] === key) { this.ids[i] = id; return; }
    if (this.ids[i] === EMPTY) {
      // Half full at most (counting deleted slots), so probes stay short.
      if (2 * (this.used + 1) > this.ids.length) { this.rehash(); i = this.slot(key); }
      if (this.ids[i] === EMPTY) this.used++;
    }
    this.keys[i] = key;
    this.ids[i] = id;
    this.live++;
  }

  delete(key: number): boolean {
    const i = this.slot(key);
    if (!(this.ids[i] >= 0 && this.keys[i] === key)) return false;
    this.ids[i] = DELETED;
    this.live--;
    return true;
  }

  private rehash(): void {
    const keys = this.keys, ids = this.ids;
    let n = this.ids.length;
    while (2 * (this.live + 1) > n / 2) n *= 2; // grow when live keys need it; else only drop deleted slots
    this.keys = new Float64Array(n);
    this.ids = new Int32Array(n).fill(EMPTY);
    this.mask = n - 1;
    this.used = this.live;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < 0) continue;
      const j = this.slot(keys[i]);
      this.keys[j] = keys[i];
      this.ids[j] = ids[i];
    }
  }
}
