// The prefetch choreography of a batch (as Katran's balancer_kern.c keeps its lookups apart from the
// decision): processBatch (pipeline.ts) hands the core GROUP packets at a time to prefetchGroup, which
// computes each packet's conntrack key and home slot, and touches everything the group's packets are
// about to read (conntrack slots, then for unknown flows the reply slot and the service lookup's chain,
// the predicted backend, its ipcache entry and NAT reply slot), so the cache misses of the whole group are
// in flight together. Nothing here decides anything: a wrong prediction costs a miss, never a result
// (the differential test of several groups per batch holds this: test/differential.test.ts).

import * as P from "./packet";
import { K_SADDR, K_SPORT, K_DADDR, K_PROTO, K_NODE, K_PORTS_WORD, B_ADDR, B_PORT, B_NODE, F_STATE, F_BACKEND,
  F_NAT_SADDR, F_NAT_DADDR, F_NAT_SPORT } from "./records";
import { ctWriteKey, CTF_DST_REMOTE } from "./conntrack";
import { arrayGet } from "./maps/array";
import { lbPrefetchFrontend, lbPrefetchService, lbPrefetchState, lbPredictBegin, lbPredictSlot, lbSlotBackend } from "./lb";
import { lpmHomeSlot } from "./maps/lpm";
import { ctFlows, ctReplies, ipcache, backends } from "./tables";
import { hashHomeSlot } from "./maps/hash";
import { lruHome4, lruSlotAddr, lruFindFrom, lruValueOf, LRU_SLOT_KEY } from "./maps/lru";
import { allocAligned } from "./alloc";
import { prngUse } from "./prng";

// Packets are taken GROUP at a time: first every packet's conntrack key is
// hashed, then, in a loop of a few instructions per packet, each home slot is
// read, so the cache misses of the whole group are in flight together
// (WebAssembly has no prefetch instruction; a load whose value feeds
// `prefetchSink` does the same); then the packets go through one by one.
// Measured at a million flows: hashing and touching in one loop let only a few
// misses overlap (the reorder window filled first); the split loop is 1.45x,
// and a group of 64 another 1.3x over 16. Prefetching group g+1 while
// processing group g measured no better.
export const GROUP: u32 = 64;
let groupKeys: usize = 0;   // GROUP keys of 16 bytes
let groupHomes: usize = 0;  // GROUP home slots
let groupLb: usize = 0;     // GROUP addresses to touch: service-lookup prefetch steps (lb.ts)
let groupA: usize = 0;      // GROUP more addresses to touch (0: none)
let groupScratch: usize = 0; // one key (16 bytes)
let prefetchSink: u32 = 0;

/** Touch the non-zero addresses in groupA and groupLb: a loop of a few instructions a packet. */
// @ts-ignore: decorator
@inline function touchGroup(count: u32): u32 {
  let sink: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const a = load<usize>(groupA + (<usize>j << 2)); const b = load<usize>(groupLb + (<usize>j << 2));
    if (a != 0) sink += load<u32>(a);
    if (b != 0) sink += load<u32>(b);
  }
  return sink;
}

/** Hash the packets listed at [first, first+count) of `list` into groupKeys/groupHomes and touch their home slots. */
// @ts-ignore: decorator
@inline function prepareGroup(batch: usize, list: usize, first: u32, count: u32): u32 {
  let sink: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const p = batch + <usize>load<u32>(list + (<usize>(first + j) << 2)) * P.PKT_STRIDE;
    const key = groupKeys + (<usize>j << 4);
    const saddr = load<u32>(p, P.PKT_SADDR); const daddr = load<u32>(p, P.PKT_DADDR);
    const ports = load<u32>(p, P.PKT_SPORT);
    const protoNode = <u32>load<u8>(p, P.PKT_PROTO) | (<u32>load<u16>(p, P.PKT_NODE) << 16); // the key's last word
    store<u64>(key, <u64>saddr | (<u64>daddr << 32)); // the layout of ctWriteKey
    store<u64>(key, <u64>ports | (<u64>protoNode << 32), K_PORTS_WORD);
    store<u32>(groupHomes + (<usize>j << 2), lruHome4(ctFlows, saddr, daddr, ports, protoNode));
  }
  // The touches in a loop of their own: a few instructions each, so all of the
  // group's misses fit in the CPU's reorder window at once.
  for (let j: u32 = 0; j < count; j++) {
    sink += load<u32>(lruSlotAddr(ctFlows, load<u32>(groupHomes + (<usize>j << 2))), LRU_SLOT_KEY);
  }
  // A packet whose key is not in the flow table (probed from its home slot, now
  // in cache) belongs to no known flow: it is a reply or a new flow, and its
  // next stop is the reply table, so touch that slot too (measured: new flows
  // 1.13x, the established path unchanged).
  // New flows go on to the service lookup: touch its chain a step at a time for the
  // whole group (lb.ts lbPrefetch*), only when the group has such packets. (Testing
  // only for an empty home slot missed the new flows whose home slot another
  // flow holds, most of them in a busy table, and put the backend prediction
  // below out of step with the PRNG.)
  // Each step computes the group's addresses in one loop and touches them in the
  // next, whose body is a load or two: a loop that hashes and touches fills the
  // reorder window after two or three packets, so only that many misses overlap
  // (measured: the touches inside the hashing loops took 60% of the samples).
  // (Second hops are made in the run's second phase, pipeline.ts secondHops, which prefetches their own slots.)
  let unknown: u32 = 0; let fresh: u32 = 0;
  for (let j: u32 = 0; j < count; j++) {
    const key = groupKeys + (<usize>j << 4);
    let reply: usize = 0; let fe: usize = 0;
    const s = lruFindFrom(ctFlows, key, load<u32>(groupHomes + (<usize>j << 2)));
    if (s == 0) {
      reply = hashHomeSlot(ctReplies, key);
      fe = lbPrefetchFrontend(load<u32>(key, K_DADDR), <u16>(load<u32>(key, K_PORTS_WORD) >> 16), <u8>load<u32>(key, K_PROTO));
      unknown++;
      if (fe != 0) fresh++;
    }
    store<usize>(groupA + (<usize>j << 2), reply);
    store<usize>(groupLb + (<usize>j << 2), fe);
  }
  if (unknown == 0) return sink; // all established: the fast path
  sink += touchGroup(count);
  if (fresh != 0) {
    for (let j: u32 = 0; j < count; j++) {
      const key = groupKeys + (<usize>j << 4);
      const svc = load<usize>(groupLb + (<usize>j << 2)) != 0
        ? lbPrefetchService(load<u32>(key, K_DADDR), <u16>(load<u32>(key, K_PORTS_WORD) >> 16), <u8>load<u32>(key, K_PROTO)) : 0;
      store<usize>(groupLb + (<usize>j << 2), svc);
      store<usize>(groupA + (<usize>j << 2), svc != 0 ? lbPrefetchState(svc, load<u16>(key, K_NODE)) : 0);
    }
    sink += touchGroup(count);
    // The probable backend slot (lb.ts lbPredictSlot), its backend, then what
    // the flow reads about the backend next: its ipcache entry (the
    // destination's identity for policy) and the reply-table slot the
    // source-port check probes.
    prngUse(<u32>load<u16>(groupKeys, K_NODE)); // a group's packets are one shard's, mostly one node's (prng.ts)
    lbPredictBegin();
    for (let j: u32 = 0; j < count; j++) {
      const svc = load<usize>(groupLb + (<usize>j << 2));
      store<usize>(groupLb + (<usize>j << 2), svc != 0 ? lbPredictSlot(svc, load<u16>(groupKeys + (<usize>j << 4), K_NODE)) : 0);
      store<usize>(groupA + (<usize>j << 2), 0);
    }
    sink += touchGroup(count);
    for (let j: u32 = 0; j < count; j++) {
      const slot = load<usize>(groupLb + (<usize>j << 2));
      store<usize>(groupLb + (<usize>j << 2), slot != 0 ? lbSlotBackend(slot) : 0);
    }
    sink += touchGroup(count);
    for (let j: u32 = 0; j < count; j++) {
      const b = load<usize>(groupLb + (<usize>j << 2));
      let ipc: usize = 0; let reply: usize = 0;
      if (b != 0) {
        const key = groupKeys + (<usize>j << 4);
        const addr = load<u32>(b, B_ADDR);
        ipc = lpmHomeSlot(ipcache, addr, 32);
        ctWriteKey(groupScratch, addr, load<u32>(key, K_SADDR), load<u16>(b, B_PORT), load<u16>(key, K_SPORT), <u8>load<u32>(key, K_PROTO),
          load<u16>(key, K_NODE));
        reply = hashHomeSlot(ctReplies, groupScratch);
      }
      store<usize>(groupA + (<usize>j << 2), ipc);
      store<usize>(groupLb + (<usize>j << 2), reply);
    }
    sink += touchGroup(count);
  }
  return sink;
}

/** The group's buffers (created on first use; index.ts workerAttach: each worker its own). */
export function prefetchInit(): void {
  groupKeys = allocAligned(GROUP * 16, 64); groupHomes = allocAligned(GROUP * 4, 64);
  groupLb = allocAligned(GROUP * 4, 64); groupA = allocAligned(GROUP * 4, 64); groupScratch = allocAligned(16, 16);
}

/**
 * Prepare the packets of `batch` listed (u32 indices) at [first, first+count) of `list` (count <= GROUP): their keys
 * and home slots, and every touch.
 */
export function prefetchGroup(batch: usize, list: usize, first: u32, count: u32): void {
  if (groupKeys == 0) prefetchInit();
  prefetchSink += prepareGroup(batch, list, first, count);
}

/** Packet j of the group prepared last: its conntrack key on its entry node (16 bytes, the layout of ctWriteKey) ... */
// @ts-ignore: decorator
@inline export function groupKey(j: u32): usize { return groupKeys + (<usize>j << 4); }
/** ... and its home slot in ctFlows. */
// @ts-ignore: decorator
@inline export function groupHome(j: u32): u32 { return load<u32>(groupHomes + (<usize>j << 2)); }
