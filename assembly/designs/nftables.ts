// The nftables design: what kube-proxy's nftables mode (pkg/proxy/nftables/
// proxier.go) makes the kernel do for the first packet of a connection:
//
//   chain services { ip daddr . meta l4proto . th dport vmap @service-ips }   one hash lookup
//   chain service-<hash> { numgen random mod N vmap { 0 : goto endpoint-A, 1 : goto endpoint-B, ... } }
//   chain endpoint-<hash> { ... dnat to <ip:port> }
//
// The service vmap is a hash map (maps/hash.ts) whose key is the
// concatenation as nft lays it out, each field in its own 32-bit register (VmapKey below); the
// value is the service chain (service index) u32.
// The endpoint vmap of a service chain is its run of backend slots
// (tables.ts backendSlots), indexed by the numgen result.
//
// One dataplane emulates every node: kube-proxy's per-node elements for a
// Local traffic policy (the node's external / local-endpoints chains) are
// elements whose key carries the node and the source's side in the spare
// bytes of the l4proto register; a new flow looks its node's element up
// first while any exist (the same result as the ebpf design's scoped lookup).

import { hashCreate, hashLookup, hashUpdate, hashDelete, hashHomeSlot } from "../maps/hash";
import { allocAligned } from "../alloc";
import { prngNext } from "../prng";
import { NONE } from "../packet";

/** An element's key: `ip daddr . meta l4proto . th dport`, with the node scope in l4proto's spare bytes. */
@unmanaged class VmapKey {
  daddr: u32;
  proto: u8; scope: u8; node: u16; // one register
  dport: u32;
}
const VK_PROTO_WORD = offsetof<VmapKey>("proto"); const VK_DPORT = offsetof<VmapKey>("dport");
const VMAP_KEY_SIZE: u32 = offsetof<VmapKey>();

let vmap: usize = 0;
let key: usize = 0;
let scopedElements: u32 = 0;

/** This instance's scratch key (index.ts workerAttach gives each worker its own). */
export function nftScratchInit(): void { key = allocAligned(16, 16); }

export function nftInit(maxElements: u32): bool {
  vmap = hashCreate(VMAP_KEY_SIZE, sizeof<u32>(), maxElements);
  nftScratchInit();
  return vmap != 0 && key != 0;
}

// @ts-ignore: decorator
@inline function vmapKey(daddr: u32, proto: u8, dport: u16, scope: u8, node: u32): usize {
  store<u32>(key, daddr);
  store<u32>(key, <u32>proto | (<u32>scope << 8) | (node << 16), VK_PROTO_WORD);
  store<u32>(key, <u32>dport, VK_DPORT);
  return key;
}

export function nftElementUpsert(daddr: u32, dport: u16, proto: u8, scope: u8, node: u32, chain: u32, value: usize): i32 {
  const k = vmapKey(daddr, proto, dport, scope, scope == 0 ? 0 : node);
  const existed = hashLookup(vmap, k) != 0;
  store<u32>(value, chain);
  const rc = hashUpdate(vmap, k, value);
  if (rc == 0 && !existed && scope != 0) scopedElements++;
  return rc;
}

export function nftElementDelete(daddr: u32, dport: u16, proto: u8, scope: u8, node: u32): bool {
  const gone = hashDelete(vmap, vmapKey(daddr, proto, dport, scope, scope == 0 ? 0 : node));
  if (gone && scope != 0) scopedElements--;
  return gone;
}

/** `ip daddr . meta l4proto . th dport vmap @service-ips`: the service chain, or NONE (no element: no service). */
export function nftLookup(daddr: u32, dport: u16, proto: u8, node: u32, internal: bool): u32 {
  if (scopedElements != 0) {
    const v = hashLookup(vmap, vmapKey(daddr, proto, dport, internal ? 2 : 1, node));
    if (v != 0) return load<u32>(v);
  }
  const v = hashLookup(vmap, vmapKey(daddr, proto, dport, 0, 0));
  return v == 0 ? NONE : load<u32>(v);
}

/** Chain of the unscoped element for (daddr, l4proto, dport), or NONE (prefetching, lb.ts). */
// @ts-ignore: decorator
@inline export function nftUnscopedLookup(daddr: u32, dport: u16, proto: u8): u32 {
  const v = hashLookup(vmap, vmapKey(daddr, proto, dport, 0, 0));
  return v == 0 ? NONE : load<u32>(v);
}
/** Home slot of the unscoped element for (daddr, l4proto, dport): for prefetching (lb.ts). */
// @ts-ignore: decorator
@inline export function nftHomeSlot(daddr: u32, dport: u16, proto: u8): usize {
  return hashHomeSlot(vmap, vmapKey(daddr, proto, dport, 0, 0));
}

/** `numgen random mod N`: nft_ng_random_gen is reciprocal_scale(get_random_u32(), N), i.e. (r * N) >> 32. */
// @ts-ignore: decorator
@inline export function nftPickSlot(n: u32): u32 { return nftSlotOf(prngNext(), n); }

/** The slot numgen gives for the random number `r` (lb.ts predicts with it). */
// @ts-ignore: decorator
@inline export function nftSlotOf(r: u32, n: u32): u32 { return <u32>((<u64>r * <u64>n) >> 32); }
