// Seeded PRNG (mulberry32), defined identically in src/common/prng.ts so both backends draw the same numbers
// for the same packet sequence. One stream per node, as every node's kernel draws its own random numbers
// (iptables' statistic match, nftables' numgen, Cilium's get_prandom_u32): a node's draws depend only on the
// packets that node handled, so nodes can be processed apart (on several workers) with the same results.
// Node n's stream starts at seed + n * NODE_SPACING (node 0's at the seed itself).
import { allocZeroed } from "./alloc";

/**
 * u32 state per node, each on a 64-byte line of its own (prngInit): nodes on different workers draw without
 * writing each other's line (a shared line cost a cross-core transfer per new flow), and the state of the node
 * whose packet is being processed (prngUse).
 */
let states: usize = 0;
const STATE_SHIFT: usize = 6;
let seeded: usize = 0; // u8 per node: its stream was started from its address
let seedValue: u32 = 0;
let nodeCount: u32 = 0;
let current: usize = 0;
let fallback: u32 = 0x9e3779b9; // before prngInit (the micro benchmarks): one stream

/** Added to the state on every draw. */
export const PRNG_STEP: u32 = 0x6d2b79f5;
/** Between the starting states of consecutive nodes (the golden ratio's bits; see src/common/prng.ts). */
export const NODE_SPACING: u32 = 0x9e3779b9;

export function prngInit(maxNodes: u32): bool {
  states = allocZeroed(<usize>max(maxNodes, 1) << STATE_SHIFT, 64);
  seeded = allocZeroed(<usize>max(maxNodes, 1), 64);
  nodeCount = max(maxNodes, 1);
  current = states;
  return states != 0 && seeded != 0;
}

/** Seed every stream: node n's at seed + n * NODE_SPACING until prngNodeAddress starts it from its address. */
export function prngSeed(seed: u32): void {
  if (states == 0) { fallback = seed; return; }
  seedValue = seed;
  for (let n: u32 = 0; n < nodeCount; n++) {
    store<u32>(states + (<usize>n << STATE_SHIFT), seed + n * NODE_SPACING);
    store<u8>(seeded + n, 0);
  }
}

/** Node `node` has address `addr` (nodeSet): its stream starts from it, the first time it has one. */
export function prngNodeAddress(node: u32, addr: u32): void {
  if (states == 0 || node >= nodeCount || addr == 0 || load<u8>(seeded + node) != 0) return;
  store<u32>(states + (<usize>node << STATE_SHIFT), seedValue + addr * NODE_SPACING);
  store<u8>(seeded + node, 1);
}

/** Draw from node `node`'s stream from now on (an unknown node draws from node 0's: its packets are dropped first). */
// @ts-ignore: decorator
@inline export function prngUse(node: u32): void {
  current = states + (<usize>(node < nodeCount ? node : <u32>0) << STATE_SHIFT);
}

/** The state of the stream in use. */
export function prngState(): u32 { return states == 0 ? fallback : load<u32>(current); }

/** The number drawn when the state becomes `s` (mulberry32's output function). */
// @ts-ignore: decorator
@inline export function prngMix(s: u32): u32 {
  let t = s;
  t = (t ^ (t >> 15)) * (t | 1);
  t ^= t + (t ^ (t >> 7)) * (t | 61);
  return t ^ (t >> 14);
}

export function prngNext(): u32 {
  if (states == 0) { fallback += PRNG_STEP; return prngMix(fallback); }
  const s = load<u32>(current) + PRNG_STEP;
  store<u32>(current, s);
  return prngMix(s);
}
