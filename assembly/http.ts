// The north-south decision over compiled route tables (written by src/gateway/tables.ts): for each request
// of a batch, the listener (the most specific hostname), the first matching entry in the precedence order
// (entries are numbered in that order, so the smallest matching number wins), the seeded weighted backend
// choice, and the answer: 200, a redirect's 301/302, 404 (nothing matches), 500 (no or an invalid backend),
// 503 (no ready endpoint). The host only formats what the core decided.
// No std Map/Array: plain loads over the packed buffers below. Strings are (offset, length) in a pool.
//
// Table (u32 words, offsets in bytes from the table base):
//   header   [0 nListeners, 1 listenersOff, 2 nEntries, 3 entriesOff, 4 condsOff, 5 backendsOff,
//             6 indexOff, 7 indexMask (slots - 1), 8 defaultEntry or NONE, 9..15 pad]              16 words
//   listener [hostOff, hostLen, hostFlags, rank]                                                      4 words
//   entry    [0 listener, 1 hostOff, 2 hostLen, 3 hostFlags, 4 pathType (0 Exact, 1 Prefix, 2 regex,
//             3 never), 5 pathOff (regex: DFA offset), 6 pathLen, 7 methodOff, 8 methodLen (0 = any),
//             9 nConds, 10 condFirst, 11 backendFirst, 12 nBackends, 13 answer (a redirect's status or 0),
//             14 flags (1 = one backend, taken without a draw), 15 pad]                              16 words
//   cond     [0 where (0 header, 1 query), 1 nameOff, 2 nameLen, 3 type (0 Exact, 1 regex, 2 never),
//             4 valueOff (regex: DFA offset), 5 valueLen, 6 pad, 7 pad]                                8 words
//   backend  [weight, status (200, 500, 503), service id or NONE, pad]                                 4 words
//   index    slots [hash, keyOff, keyLen (0 = empty slot), listOff, listLen, pad, pad, pad]           8 words
//            key = host key ++ 0x00 ++ first path segment (the entries whose path can only match
//            under that segment), or host key ++ 0x01 (entries matching any path: PathPrefix "/",
//            regex); host key: the exact host, ".suffix" of a wildcard, or "" (no hostname). A list is
//            entry numbers, ascending.
//   DFA      src/gateway/regex.ts DFA_LAYOUT
// Host flags: 0 exact; 1 ".suffix", one or more labels before it (Gateway); 2 any host;
//             3 ".suffix", exactly one label before it (Ingress).
// Request (u32 words, offsets from the request base; header names lowercased by the writer):
//   [methodOff, methodLen, hostOff, hostLen, pathOff, pathLen, queryOff, queryLen, nHeaders, headersOff,
//    scratch (the core's), table (absolute address of the table that decides it)]
//   header pair [nameOff, nameLen, valueOff, valueLen]
// Decision (u32 words): [status, entry or NONE, backend index within the entry or NONE, service id or NONE]

const NONE: u32 = 0xffffffff;
export const HTTP_REQ_WORDS: u32 = 12;
export const HTTP_OUT_WORDS: u32 = 4;
let prngState: u32 = 1;

export function httpSeed(s: u32): void { prngState = s; }
/** The weighted choice's PRNG state (the host keeps one per cluster model, as the reference keeps one router). */
export function httpPrngState(): u32 { return prngState; }

// mulberry32, as src/common/prng.ts
function nextRandom(): u32 {
  prngState += 0x6d2b79f5;
  let t = prngState;
  t = (t ^ (t >>> 15)) * (t | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  return t ^ (t >>> 14);
}

@inline function w(base: usize, i: u32): u32 { return load<u32>(base + (<usize>i << 2)); }

function bytesEq(a: usize, b: usize, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Host pattern (flags above) against the request host. */
function hostOk(tbl: usize, off: u32, len: u32, flags: u32, host: usize, hostLen: u32): bool {
  if (flags == 2) return true;
  if (flags == 0) return hostLen == len && bytesEq(host, tbl + off, len);
  if (!(hostLen > len && bytesEq(host + hostLen - len, tbl + off, len))) return false;
  if (flags == 3) { // Ingress: the wildcard covers exactly one label
    for (let i: u32 = 0; i < hostLen - len; i++) if (load<u8>(host + i) == 0x2e) return false;
  }
  return true;
}

/** The value of the first query parameter named (name, nlen) in "k=v&k2=v2", or NONE offset. */
function queryFind(q: usize, qlen: u32, name: usize, nlen: u32, outLen: usize): u32 {
  let i: u32 = 0;
  while (i <= qlen) {
    let end = i;
    while (end < qlen && load<u8>(q + end) != 0x26) end++;
    let eq = i;
    while (eq < end && load<u8>(q + eq) != 0x3d) eq++;
    if (eq - i == nlen && bytesEq(q + i, name, nlen)) {
      const vs = eq < end ? eq + 1 : end;
      store<u32>(outLen, end - vs);
      return vs;
    }
    i = end + 1;
  }
  return NONE;
}

/** Whole-value match of UTF-8 text against a DFA (DFA_LAYOUT in src/gateway/regex.ts). */
function dfaMatches(dfa: usize, s: usize, n: u32): bool {
  const nC = w(dfa, 1), nR = w(dfa, 2), trans = dfa + w(dfa, 4);
  let state = w(dfa, 3);
  let i: u32 = 0;
  while (i < n) {
    // Decode one code point (the writer's TextEncoder gives well-formed UTF-8).
    let c = <u32>load<u8>(s + i);
    let cls: u32;
    if (c < 0x80) { cls = <u32>load<u8>(dfa + 32 + c); i++; }
    else {
      let more: u32 = 0;
      if (c >= 0xf0) { c &= 0x07; more = 3; } else if (c >= 0xe0) { c &= 0x0f; more = 2; } else { c &= 0x1f; more = 1; }
      i++;
      for (let k: u32 = 0; k < more && i < n; k++, i++) c = (c << 6) | (<u32>load<u8>(s + i) & 0x3f);
      // Binary search of the ranges above ASCII (they cover 128..0x10FFFF).
      let lo: u32 = 0, hi: u32 = nR;
      cls = 0;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const r = dfa + 160 + <usize>mid * 12;
        if (c < w(r, 0)) hi = mid;
        else if (c > w(r, 1)) lo = mid + 1;
        else { cls = w(r, 2); break; }
      }
    }
    state = <u32>load<u16>(trans + ((<usize>state * nC + cls) << 1));
    if (state == 0) return false;
  }
  return load<u8>(dfa + w(dfa, 5) + state) != 0;
}

function entryMatches(tbl: usize, e: usize, req: usize): bool {
  const host = req + w(req, 2), hostLen = w(req, 3);
  if (!hostOk(tbl, w(e, 1), w(e, 2), w(e, 3), host, hostLen)) return false;
  const path = req + w(req, 4), pathLen = w(req, 5);
  const ptype = w(e, 4), p = tbl + w(e, 5), plen = w(e, 6);
  if (ptype == 0) {
    if (plen != pathLen || !bytesEq(p, path, plen)) return false;
  } else if (ptype == 1) {
    // PathPrefix on whole segments; the compiler stores the prefix without a trailing "/" ("/" stays "/").
    if (!(plen == 1 && load<u8>(p) == 0x2f)) {
      if (pathLen < plen || !bytesEq(p, path, plen)) return false;
      if (pathLen > plen && load<u8>(path + plen) != 0x2f) return false;
    }
  } else if (ptype == 2) {
    if (!dfaMatches(p, path, pathLen)) return false;
  } else return false;
  const mlen = w(e, 8);
  if (mlen != 0 && (mlen != w(req, 1) || !bytesEq(tbl + w(e, 7), req + w(req, 0), mlen))) return false;
  const nConds = w(e, 9);
  const conds = tbl + w(tbl, 4) + (<usize>w(e, 10) << 5);
  const nHeaders = w(req, 8), headers = req + w(req, 9);
  for (let c: u32 = 0; c < nConds; c++) {
    const cr = conds + (<usize>c << 5);
    const name = tbl + w(cr, 1), nlen = w(cr, 2), type = w(cr, 3), val = tbl + w(cr, 4), vlen = w(cr, 5);
    if (type == 2) return false;
    let vs: usize = 0, vl: u32 = 0;
    if (w(cr, 0) == 0) {
      let found = false;
      for (let h: u32 = 0; h < nHeaders; h++) {
        const hr = headers + (<usize>h << 4);
        if (w(hr, 1) == nlen && bytesEq(req + w(hr, 0), name, nlen)) { vs = req + w(hr, 2); vl = w(hr, 3); found = true; break; }
      }
      if (!found) return false;
    } else {
      const lenSlot = req + 40; // word 10: the core's scratch
      const at = queryFind(req + w(req, 6), w(req, 7), name, nlen, lenSlot);
      if (at == NONE) return false;
      vs = req + w(req, 6) + at; vl = load<u32>(lenSlot);
    }
    if (type == 0 ? !(vl == vlen && bytesEq(vs, val, vlen)) : !dfaMatches(val, vs, vl)) return false;
  }
  return true;
}

// FNV-1a, continued over several pieces of a key.
@inline function fnv(h: u32, p: usize, n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + i)) * 16777619;
  return h;
}

/**
 * The list of the index key (host piece, separator, segment piece), as its slot address, or 0. The key is
 * compared piece by piece, so nothing is copied.
 */
function indexFind(tbl: usize, h: usize, hl: u32, sep: u32, seg: usize, sl: u32): usize {
  const sepByte = <usize>(tbl + 60); // header word 15 holds the bytes 0x00 0x01 for the separator pieces
  let hash = fnv(2166136261, h, hl);
  hash = fnv(hash, sepByte + sep, 1);
  hash = fnv(hash, seg, sl);
  const slots = tbl + w(tbl, 6), mask = w(tbl, 7);
  const keyLen = hl + 1 + sl;
  for (let k: u32 = 0; k <= mask; k++) {
    const slot = slots + (<usize>((hash + k) & mask) << 5);
    const len = w(slot, 2);
    if (len == 0) return 0;
    if (w(slot, 0) != hash || len != keyLen) continue;
    const key = tbl + w(slot, 1);
    if (bytesEq(key, h, hl) && load<u8>(key + hl) == <u8>sep && bytesEq(key + hl + 1, seg, sl)) return slot;
  }
  return 0;
}

/** The best (smallest) entry number below `best` in one index list that the request matches. */
function scanList(tbl: usize, slot: usize, req: usize, bestRank: i64, best: u32): u32 {
  if (slot == 0) return best;
  const list = tbl + w(slot, 3), n = w(slot, 4);
  const lst = tbl + w(tbl, 1), ents = tbl + w(tbl, 3);
  const host = req + w(req, 2), hostLen = w(req, 3);
  for (let k: u32 = 0; k < n; k++) {
    const e = w(list, k);
    if (e >= best) return best;
    const er = ents + (<usize>e << 6);
    const lr = lst + (<usize>w(er, 0) << 4);
    if (<i64>w(lr, 3) != bestRank || !hostOk(tbl, w(lr, 0), w(lr, 1), w(lr, 2), host, hostLen)) continue;
    if (entryMatches(tbl, er, req)) return e;
  }
  return best;
}

/** Both lists (the path's first segment, any path) of one host key. */
function scanHostKey(tbl: usize, h: usize, hl: u32, seg: usize, sl: u32, req: usize, bestRank: i64, best: u32): u32 {
  best = scanList(tbl, indexFind(tbl, h, hl, 0, seg, sl), req, bestRank, best);
  return scanList(tbl, indexFind(tbl, h, hl, 1, seg, 0), req, bestRank, best);
}

/** Decide `n` requests: requests at reqs[i] (byte addresses in the u32 array at reqIndex), decisions at out + 16*i. */
export function httpDecide(reqIndex: usize, n: u32, out: usize): u32 {
  let routed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const req = <usize>w(reqIndex, i);
    const tbl = <usize>w(req, 11);
    const o = out + (<usize>i << 4);
    store<u32>(o, 404); store<u32>(o, NONE, 4); store<u32>(o, NONE, 8); store<u32>(o, NONE, 12);
    const nL = w(tbl, 0), lst = tbl + w(tbl, 1), ents = tbl + w(tbl, 3), bks = tbl + w(tbl, 5);
    const host = req + w(req, 2), hostLen = w(req, 3);
    // The most specific listener hostname takes the request (rank: exact > longer wildcard > none).
    let bestRank: i64 = -1;
    for (let l: u32 = 0; l < nL; l++) {
      const lr = lst + (<usize>l << 4);
      if (hostOk(tbl, w(lr, 0), w(lr, 1), w(lr, 2), host, hostLen) && <i64>w(lr, 3) > bestRank) bestRank = <i64>w(lr, 3);
    }
    let best: u32 = NONE;
    if (bestRank >= 0) {
      // The path's first segment: after a leading "/", up to the next "/".
      const path = req + w(req, 4), pathLen = w(req, 5);
      let s: u32 = pathLen > 0 && load<u8>(path) == 0x2f ? 1 : 0;
      let e = s;
      while (e < pathLen && load<u8>(path + e) != 0x2f) e++;
      const seg = path + s, sl = e - s;
      // Host keys: the host itself, each ".suffix" after its first label, and "" (no hostname).
      best = scanHostKey(tbl, host, hostLen, seg, sl, req, bestRank, best);
      for (let k: u32 = 1; k < hostLen; k++) {
        if (load<u8>(host + k) == 0x2e) best = scanHostKey(tbl, host + k, hostLen - k, seg, sl, req, bestRank, best);
      }
      best = scanHostKey(tbl, host, 0, seg, sl, req, bestRank, best);
    }
    if (best == NONE) best = w(tbl, 8); // Ingress defaultBackend
    if (best == NONE) continue;
    store<u32>(o, best, 4);
    const er = ents + (<usize>best << 6);
    const answer = w(er, 13);
    if (answer != 0) { store<u32>(o, answer); routed++; continue; }
    const nb = w(er, 12), first = bks + (<usize>w(er, 11) << 4);
    let pick: u32 = NONE;
    if (w(er, 14) & 1) pick = 0;
    else {
      // HTTPBackendRef weights: a draw r in [0, 2^32), x = floor(r * total / 2^32), the entry whose
      // cumulative weight covers x. No weight at all: no draw, 500.
      let total: u64 = 0;
      for (let b: u32 = 0; b < nb; b++) total += <u64>w(first + (<usize>b << 4), 0);
      if (total > 0) {
        const x = (<u64>nextRandom() * total) >> 32;
        let acc: u64 = 0;
        pick = nb - 1;
        for (let b: u32 = 0; b < nb; b++) { acc += <u64>w(first + (<usize>b << 4), 0); if (x < acc) { pick = b; break; } }
      }
    }
    if (pick == NONE) { store<u32>(o, 500); routed++; continue; }
    const br = first + (<usize>pick << 4);
    store<u32>(o, w(br, 1));
    store<u32>(o, pick, 8);
    store<u32>(o, w(br, 2), 12);
    routed++;
  }
  return routed;
}
