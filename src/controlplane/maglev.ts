// Maglev lookup tables, built the way Cilium's agent does (pkg/maglev/maglev.go),
// after Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016.
//
// A table has M cells (M prime); a flow hashes to a cell and the cell names the
// backend. What Maglev guarantees:
//   - balance: with equal weights the population loop gives every backend one
//     cell per round, so each backend owns floor(M/N) or ceil(M/N) cells;
//   - minimal disruption: each backend claims cells along its own permutation
//     of 0..M-1 (offset + j*skip mod M), so when the backend set changes most
//     cells keep their owner. The guarantee is statistical, not exact: a few
//     surviving backends' cells move, and M > 100N (see maglevTableSize) keeps
//     that small.
//
// Cilium rules followed here:
//   - M is one of Cilium's supported primes (MAGLEV_PRIMES);
//   - offset = h1 % M and skip = h2 % (M - 1) + 1 from hashes of the backend's
//     string identity (Cilium: murmur3-128 with a seed; we use two seeded
//     murmur3_x86_32 hashes of the key's UTF-8 bytes, so the table is a pure
//     function of its inputs and needs no 128-bit arithmetic);
//   - backends are visited in a canonical order (Cilium sorts by name), so the
//     table depends on the keys, not on the order the caller lists them in;
//   - weights change how often a backend's turn comes round (Cilium's weighted
//     population in GetLookupTable, itself after envoyproxy/envoy#2982); see
//     maglevTable for the rule and where we differ.
//
// Deliberate differences: a weight-0 backend is left out entirely (in Cilium's
// GetLookupTable it can still win one turn; weight 0 means "no new flows"), and
// every cell is written as an index into the caller's array rather than a
// backend ID.

/** Table sizes Cilium supports (all prime). */
export const MAGLEV_PRIMES: readonly number[] = Object.freeze([
  251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
]);

/** Cell value meaning "no backend": used for every cell when no backend has a positive weight. */
export const MAGLEV_NO_BACKEND = 0xffff;

/** Largest backend weight accepted (backend weights are u16 in the dataplane, as in Cilium). */
export const MAGLEV_MAX_WEIGHT = 0xffff;

/**
 * Smallest table size in MAGLEV_PRIMES with M > 100 * backendCount.
 * backendCount 0 gives the smallest prime. Throws RangeError if the count is not
 * a non-negative integer or if no supported size is big enough (N > 1310).
 */
export function maglevTableSize(backendCount: number): number {
  if (!Number.isInteger(backendCount) || backendCount < 0) {
    throw new RangeError(`maglev: backend count ${backendCount} is not a non-negative integer`);
  }
  for (const m of MAGLEV_PRIMES) if (m > 100 * backendCount) return m;
  throw new RangeError(
    `maglev: no supported table size exceeds 100 x ${backendCount} backends ` +
    `(largest is ${MAGLEV_PRIMES[MAGLEV_PRIMES.length - 1]}, so at most 1310 backends)`);
}

/** murmur3_x86_32 of `bytes[0, len)` with a 32-bit seed; returns an unsigned 32-bit value. */
export function murmur3_32(bytes: Uint8Array, seed: number, len: number = bytes.length): number {
  let h = seed >>> 0;
  const blocks = len & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail !== 0) {
    let k = bytes[i];
    if (tail > 1) k |= bytes[i + 1] << 8;
    if (tail > 2) k |= bytes[i + 2] << 16;
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Offset and skip use different seeds derived from the caller's seed; XOR with a
// non-zero constant keeps the two seeds distinct for every caller seed.
const SKIP_SEED_XOR = 0x9e3779b9;

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

function utf8(key: string): number {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  return encoder.encodeInto(key, scratch).written;
}

/**
 * Build a Maglev lookup table of `m` cells for `backends`.
 *
 * Each cell holds the 0-based index into `backends` of the backend owning it.
 * `key` is the backend's identity (e.g. "10.244.1.5:8080"); keys must be unique.
 * The result depends only on the (key, weight) pairs, `m` and `seed`: listing the
 * same backends in another order renumbers the indices but assigns every cell to
 * the same key.
 *
 * Weights: default 1, integers 0..65535. Weight 0 gets no cells. Otherwise
 * turns follow Cilium's weighted population: backend i holds a counter starting
 * at floor(w_i / L) (L = number of backends with weight > 0) and, on fill step n
 * (0-based), takes its turn only if (n + 1) * w_i >= counter, then adds the weight
 * sum W to the counter; if not, the turn passes to the next backend. Backend i
 * therefore claims about M * w_i / W cells. (Cilium only applies this when the
 * integer mean weight exceeds 1; we apply it whenever weights differ, so that
 * e.g. weights 1,1,2 are honoured. With equal weights both reduce to plain
 * round-robin.)
 *
 * If there are no backends or every weight is 0, every cell is MAGLEV_NO_BACKEND
 * (0xFFFF).
 *
 * Throws RangeError if `m` is not in MAGLEV_PRIMES, if there are 65535 or more
 * backends, if a weight is not an integer in 0..65535 or if the seed is not an
 * integer in 0..2^32-1; throws Error on a duplicate key.
 */
export function maglevTable(
  backends: ReadonlyArray<{ key: string; weight?: number }>,
  m: number,
  seed = 0,
): Uint16Array {
  if (!MAGLEV_PRIMES.includes(m)) {
    throw new RangeError(`maglev: table size ${m} is not one of ${MAGLEV_PRIMES.join(", ")}`);
  }
  const n = backends.length;
  if (n >= 0xffff) throw new RangeError(`maglev: ${n} backends, at most 65534 are supported`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`maglev: seed ${seed} is not an unsigned 32-bit integer`);
  }

  const table = new Uint16Array(m);

  // Active backends (weight > 0), to be put in canonical key order.
  const order: number[] = [];
  let allEqual = true;
  let firstWeight = -1;
  for (let i = 0; i < n; i++) {
    const w = backends[i].weight ?? 1;
    if (!Number.isInteger(w) || w < 0 || w > MAGLEV_MAX_WEIGHT) {
      throw new RangeError(`maglev: backend ${JSON.stringify(backends[i].key)} has weight ${w}, expected an integer 0..${MAGLEV_MAX_WEIGHT}`);
    }
    if (w === 0) continue;
    if (firstWeight < 0) firstWeight = w; else if (w !== firstWeight) allEqual = false;
    order.push(i);
  }
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const key = backends[i].key;
    if (seen.has(key)) throw new Error(`maglev: duplicate backend key ${JSON.stringify(key)}`);
    seen.add(key);
  }
  // Canonical order: keys compared as JS strings (UTF-16 code units).
  order.sort((a, b) => {
    const ka = backends[a].key, kb = backends[b].key;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });

  const l = order.length;
  if (l === 0) {
    table.fill(MAGLEV_NO_BACKEND);
    return table;
  }

  // Per active backend: original index, permutation position, skip.
  const index = new Uint16Array(l);
  const pos = new Uint32Array(l);   // next cell of this backend's permutation to try
  const skip = new Uint32Array(l);
  const weight = new Float64Array(l);
  const skipSeed = (seed ^ SKIP_SEED_XOR) >>> 0;
  let weightSum = 0;
  for (let j = 0; j < l; j++) {
    const i = order[j];
    const len = utf8(backends[i].key);
    index[j] = i;
    pos[j] = murmur3_32(scratch, seed, len) % m;
    skip[j] = (murmur3_32(scratch, skipSeed, len) % (m - 1)) + 1;
    const w = backends[i].weight ?? 1;
    weight[j] = w;
    weightSum += w;
  }

  // Population. `owned` marks filled cells; the table itself is written once per cell.
  const owned = new Uint8Array(m);
  /** Backend j takes the next cell of its permutation that nobody owns yet. */
  const claim = (j: number): void => {
    let c = pos[j];
    const s = skip[j];
    while (owned[c] !== 0) { c += s; if (c >= m) c -= m; }
    owned[c] = 1;
    table[c] = index[j];
    c += s; if (c >= m) c -= m;
    pos[j] = c;
  };

  if (allEqual) {
    // Round-robin turns: backend j takes steps j, j+l, j+2l, ...
    let j = 0;
    for (let filled = 0; filled < m; filled++) {
      claim(j);
      if (++j === l) j = 0;
    }
    return table;
  }

  // Weighted turns, Cilium's rule: on step n the turn starts at backend n % L
  // and passes forward (cyclically) to the first backend j with
  // (n + 1) * w_j >= counter_j; that backend claims its next cell and adds W to
  // its counter. Counters start at floor(w_j / L), so every backend is eligible
  // by step j and gets at least one cell when L <= M. Some backend is always
  // eligible: sum(counter) <= W / L + n * W <= (n + 1) * W.
  //
  // Cilium scans forward one backend at a time, which costs O(L) per step when
  // one weight dwarfs the rest. Instead: backend j is eligible from step
  // ready_j = ceil(counter_j / w_j) - 1 until it is picked. Eligible backends
  // are bits in a bitset; the others wait in a bucket keyed by ready step and
  // join the bitset when that step comes. The pick is the first set bit at or
  // after n % L (cyclically), exactly what the scan would find. Counters are
  // integers below 2^35, exact in doubles.
  const counter = new Float64Array(l);
  const words = (l + 31) >>> 5;
  const eligible = new Int32Array(words);
  const bucketHead = new Int32Array(m).fill(-1); // first backend waiting for step n
  const bucketNext = new Int32Array(l);          // next backend in the same bucket
  // Counter values are exact integers; correct ceil() for rounding in the division.
  const readyStep = (j: number): number => {
    const w = weight[j], cnt = counter[j];
    let q = Math.ceil(cnt / w);
    if ((q - 1) * w >= cnt) q--; else if (q * w < cnt) q++;
    return q - 1;
  };
  const park = (j: number, step: number): void => {
    const r = readyStep(j);
    if (r <= step) { eligible[j >>> 5] |= 1 << (j & 31); return; }
    eligible[j >>> 5] &= ~(1 << (j & 31));
    if (r < m) { bucketNext[j] = bucketHead[r]; bucketHead[r] = j; } // r >= m: never again
  };
  for (let j = 0; j < l; j++) {
    counter[j] = Math.floor(weight[j] / l);
    park(j, 0);
  }
  // First set bit at or after `from`, wrapping around; -1 if the set is empty.
  const firstEligible = (from: number): number => {
    let wi = from >>> 5;
    let bits = eligible[wi] & (-1 << (from & 31));
    for (let k = 0; k <= words; k++) {
      if (bits !== 0) return (wi << 5) + (31 - Math.clz32(bits & -bits));
      if (++wi === words) wi = 0;
      bits = eligible[wi];
    }
    return -1;
  };

  let start = 0; // step % L
  for (let step = 0; step < m; step++) {
    for (let j = bucketHead[step]; j >= 0; j = bucketNext[j]) eligible[j >>> 5] |= 1 << (j & 31);
    // Some backend is always eligible (see above), so j >= 0.
    const j = firstEligible(start);
    counter[j] += weightSum;
    park(j, step);

    claim(j);
    if (++start === l) start = 0;
  }
  return table;
}
