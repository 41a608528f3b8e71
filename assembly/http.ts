// The north-south decision over compiled route tables (compiled by src/gateway/compile.ts): for each request
// of a batch, the listener (the most specific hostname), the first matching entry (entries are pre-sorted
// by the HTTPRoute precedence, so the first match wins) and the seeded weighted backend choice.
// No std Map/Array: plain loads over the packed buffers below. Strings are (offset, length) in a pool.
//
// Table (u32 words, offsets in bytes from the table base):
//   header   [nListeners, listenersOff, nEntries, entriesOff, condsOff, backendsOff]
//   listener [hostOff, hostLen, flags (1 = wildcard ".suffix", 2 = any host), rank]              3 words... +1 pad = 4
//   entry    [listener, hostOff, hostLen, hostFlags, pathType (0 Exact, 1 Prefix, 2 never), pathOff, pathLen,
//             methodOff, methodLen (0 = any), nConds, condFirst, backendFirst, nBackends]       13 words -> 16
//   cond     [kind (0 header, 1 query), nameOff, nameLen, valueOff, valueLen]                    5 words -> 8
//   backend  [weight, id]                                                                        2 words
// Request (u32 words, offsets from the request base; header names lowercased by the writer):
//   [methodOff, methodLen, hostOff, hostLen, pathOff, pathLen, queryOff, queryLen, nHeaders, headersOff,
//    scratch (the core's), pad]
//   header pair [nameOff, nameLen, valueOff, valueLen]
// Decision (u32 words): [entry or NONE, backend index within the entry or NONE, listener matched (0/1), pad]

const NONE: u32 = 0xffffffff;
export const HTTP_REQ_WORDS: u32 = 12;
export const HTTP_OUT_WORDS: u32 = 4;
let prngState: u32 = 1;

export function httpSeed(s: u32): void { prngState = s; }

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

/** Gateway host pattern: flags 2 any; 1 wildcard stored as ".suffix": host longer and ending with it; else equal. */
function hostOk(tbl: usize, off: u32, len: u32, flags: u32, host: usize, hostLen: u32): bool {
  if (flags & 2) return true;
  if (flags & 1) return hostLen > len && bytesEq(host + hostLen - len, tbl + off, len);
  return hostLen == len && bytesEq(host, tbl + off, len);
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
  } else return false;
  const mlen = w(e, 8);
  if (mlen != 0 && (mlen != w(req, 1) || !bytesEq(tbl + w(e, 7), req + w(req, 0), mlen))) return false;
  const nConds = w(e, 9);
  const conds = tbl + w(tbl, 4) + (<usize>w(e, 10) << 5);
  const nHeaders = w(req, 8), headers = req + w(req, 9);
  for (let c: u32 = 0; c < nConds; c++) {
    const cr = conds + (<usize>c << 5);
    const name = tbl + w(cr, 1), nlen = w(cr, 2), val = tbl + w(cr, 3), vlen = w(cr, 4);
    if (w(cr, 0) == 0) {
      let found = false;
      for (let h: u32 = 0; h < nHeaders; h++) {
        const hr = headers + (<usize>h << 4);
        if (w(hr, 1) == nlen && bytesEq(req + w(hr, 0), name, nlen)) {
          found = w(hr, 3) == vlen && bytesEq(req + w(hr, 2), val, vlen);
          break;
        }
      }
      if (!found) return false;
    } else {
      const lenSlot = req + 40; // word 10: the core's scratch
      const vs = queryFind(req + w(req, 6), w(req, 7), name, nlen, lenSlot);
      if (vs == NONE) return false;
      const got = load<u32>(lenSlot);
      if (got != vlen || !bytesEq(req + w(req, 6) + vs, val, vlen)) return false;
    }
  }
  return true;
}

/** Decide `n` requests: requests at reqs[i] (byte offsets in the u32 array at reqIndex), decisions at out + 16*i. */
export function httpDecide(tbl: usize, reqIndex: usize, n: u32, out: usize): u32 {
  const nL = w(tbl, 0), lst = tbl + w(tbl, 1), nE = w(tbl, 2), ents = tbl + w(tbl, 3), bks = tbl + w(tbl, 5);
  let routed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const req = <usize>w(reqIndex, i);
    const o = out + (<usize>i << 4);
    store<u32>(o, NONE); store<u32>(o, NONE, 4); store<u32>(o, 0, 8);
    const host = req + w(req, 2), hostLen = w(req, 3);
    // The most specific listener hostname takes the request (rank: exact > longer wildcard > none).
    let best: i64 = -1;
    for (let l: u32 = 0; l < nL; l++) {
      const lr = lst + (<usize>l << 4);
      if (hostOk(tbl, w(lr, 0), w(lr, 1), w(lr, 2), host, hostLen) && <i64>w(lr, 3) > best) best = <i64>w(lr, 3);
    }
    if (best < 0) continue;
    store<u32>(o, 1, 8);
    for (let e: u32 = 0; e < nE; e++) {
      const er = ents + (<usize>e << 6);
      const lr = lst + (<usize>w(er, 0) << 4);
      if (<i64>w(lr, 3) != best || !hostOk(tbl, w(lr, 0), w(lr, 1), w(lr, 2), host, hostLen)) continue;
      if (!entryMatches(tbl, er, req)) continue;
      store<u32>(o, e);
      const nb = w(er, 12), first = bks + (<usize>w(er, 11) << 3);
      let total: u64 = 0;
      for (let b: u32 = 0; b < nb; b++) total += <u64>w(first + (<usize>b << 3), 0);
      if (total > 0) {
        const x = (<u64>nextRandom() * total) >> 32;
        let acc: u64 = 0;
        let pick: u32 = nb - 1;
        for (let b: u32 = 0; b < nb; b++) { acc += <u64>w(first + (<usize>b << 3), 0); if (x < acc) { pick = b; break; } }
        store<u32>(o, pick, 4);
      }
      routed++;
      break;
    }
  }
  return routed;
}
