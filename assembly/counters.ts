// Global counters (an array map of u64), read by the host after a batch.
//   [0..3]   packets per verdict (index = VERDICT_*)
//   [8..23]  packets per drop reason (8 + DROP_*)
//   [32..]   events, below
import { allocZeroed } from "./alloc";

export const C_VERDICT = 0; export const C_DROP = 8;
export const C_CT_CREATED = 32; export const C_CT_EVICTED = 33; export const C_CT_EXPIRED = 34;
export const C_AFFINITY_EVICTED = 35; export const C_PACKETS = 36; export const C_BYTES = 37;
export const C_POLICY_LOOKUPS = 38; export const C_CT_REOPENED = 39;
export const C_IPVS_SCHED_EVICTED = 40; // ipvs: a node's scheduler record of a service evicted (designs/ipvs.ts)
export const COUNTERS = 48;

export let countersPtr: usize = 0;

/** This instance's counters (index.ts workerAttach: each worker counts its own; the host sums them). */
export function countersInit(): void {
  countersPtr = allocZeroed(COUNTERS * 8, 64);
}

// @ts-ignore: decorator
@inline export function count(index: i32, by: u64 = 1): void {
  const p = countersPtr + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + by);
}
