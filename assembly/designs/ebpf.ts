// The ebpf design (Cilium-style maps, the default): the frontends hash maps (vip, port, proto, scope, node)
// to a service index, as Cilium's lb4 service map does (scoped keys for what kube-proxy programs per node:
// a new flow entering on a node looks for its node's entry first); the slot is chosen per algorithm:
// RANDOM uniform over the endpoints (Cilium's default), WEIGHTED in proportion to weights, MAGLEV the flow
// hash in the service's table (built by the host as Cilium's agent does), RR, LC and SH simple round robin,
// least connections and source hash. The ipvs design shares the frontends hash as its virtual-service table.

import { frontends, backends, maglevCells } from "../tables";
import { hashLookup, hashUpdate, hashDelete, hashHomeSlot } from "../maps/hash";
import { arrayGet, arrayBase } from "../maps/array";
import { allocAligned } from "../alloc";
import { hashTuple, hashAddr } from "../hash";
import { prngNext } from "../prng";
import { HASH_SEED } from "../config";
import { NONE } from "../packet";
import { slotBackend } from "../slots";
import {
  FE_KEY_SIZE, FE_NODE_WORD, S_MAGLEV, S_MAGLEV_M, S_RR, B_WEIGHT, B_ACTIVE,
  ALGO_WEIGHTED, ALGO_MAGLEV, ALGO_RR, ALGO_LC, ALGO_SH, SCOPE_ANY, SCOPE_EXTERNAL, SCOPE_INTERNAL,
} from "../records";

let feKey: usize = 0;
/** This instance's scratch key (also index.ts workerAttach: each worker its own). */
export function ebpfInit(): void { feKey = allocAligned(FE_KEY_SIZE, 16); }

/** Node-scoped frontends loaded; while there are none, a lookup is one probe. */
export let scopedFrontends: u32 = 0;

export function frontendKey(vip: u32, port: u16, proto: u8, scope: u8, node: u32): usize {
  // whole-word stores: see ctWriteKey
  store<u64>(feKey, <u64>vip | (<u64>(<u32>port | (<u32>proto << 16) | (<u32>scope << 24)) << 32));
  store<u64>(feKey, <u64>node, FE_NODE_WORD);
  return feKey;
}

/** Map frontend (vip, port, proto; scope and node) to service `index` (`value`: a scratch buffer for it). */
export function ebpfFrontendUpsert(vip: u32, port: u16, proto: u8, scope: u8, node: u32, index: u32, value: usize): i32 {
  const k = frontendKey(vip, port, proto, scope, scope == 0 ? 0 : node);
  const existed = hashLookup(frontends, k) != 0;
  store<u32>(value, index); // the frontend's value: its service index
  const rc = hashUpdate(frontends, k, value);
  if (rc == 0 && !existed && scope != 0) scopedFrontends++;
  return rc;
}

export function ebpfFrontendDelete(vip: u32, port: u16, proto: u8, scope: u8, node: u32): bool {
  const gone = hashDelete(frontends, frontendKey(vip, port, proto, scope, scope == 0 ? 0 : node));
  if (gone && scope != 0) scopedFrontends--;
  return gone;
}

/**
 * Service index for a new flow to (vip, port, proto) entering on `node`, or NONE: the node's entry for the
 * source's scope (external or internal) if there is one, else the frontend's own.
 */
// @ts-ignore: decorator
@inline export function ebpfLookup(vip: u32, port: u16, proto: u8, node: u32, internal: bool): u32 {
  if (scopedFrontends != 0) {
    const v = hashLookup(frontends, frontendKey(vip, port, proto, internal ? SCOPE_INTERNAL : SCOPE_EXTERNAL, node));
    if (v != 0) return load<u32>(v);
  }
  const v = hashLookup(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
  return v == 0 ? NONE : load<u32>(v);
}

/** The home slot of the frontend's own (unscoped) entry, to prefetch. */
// @ts-ignore: decorator
@inline export function ebpfHomeSlot(vip: u32, port: u16, proto: u8): usize {
  return hashHomeSlot(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
}

/** The service index of the frontend's own (unscoped) entry, or NONE. */
// @ts-ignore: decorator
@inline export function ebpfUnscopedLookup(vip: u32, port: u16, proto: u8): u32 {
  const v = hashLookup(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
  return v != 0 ? load<u32>(v) : NONE;
}

/** Slot of the backend for a new flow to the service at `svc` with `n` slots, by its algorithm, or NONE. */
// @ts-ignore: decorator
@inline export function ebpfPickSlot(svc: usize, n: u32, algo: u8, saddr: u32, daddr: u32, sport: u16, dport: u16, proto: u8): u32 {
  if (algo == ALGO_MAGLEV) {
    const m = load<u32>(svc, S_MAGLEV_M);
    const cell = hashTuple(saddr, daddr, sport, dport, proto, HASH_SEED) % m;
    return <u32>load<u16>(arrayBase(maglevCells) + ((<usize>load<u32>(svc, S_MAGLEV) + cell) << 1));
  }
  if (algo == ALGO_WEIGHTED) {
    let total: u32 = 0; // summed here, so a weight change needs no service rewrite
    for (let i: u32 = 0; i < n; i++) total += <u32>load<u16>(arrayGet(backends, slotBackend(svc, i)), B_WEIGHT);
    if (total == 0) return NONE;
    const r = prngNext() % total;
    let acc: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const b = arrayGet(backends, slotBackend(svc, i));
      acc += <u32>load<u16>(b, B_WEIGHT);
      if (r < acc) return i;
    }
    return NONE;
  }
  if (algo == ALGO_RR) {
    const c = load<u32>(svc, S_RR);
    store<u32>(svc, c + 1, S_RR);
    return c % n;
  }
  if (algo == ALGO_LC) {
    let best: u32 = 0; let bestActive: u32 = 0xffffffff;
    for (let i: u32 = 0; i < n; i++) {
      const a = load<u32>(arrayGet(backends, slotBackend(svc, i)), B_ACTIVE);
      if (a < bestActive) { bestActive = a; best = i; }
    }
    return best;
  }
  if (algo == ALGO_SH) return hashAddr(saddr, HASH_SEED) % n;
  return prngNext() % n; // ALGO_RANDOM
}
