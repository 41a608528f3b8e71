// The "fastpath" and "newflow" scenarios. fastpath: 10,000 ClusterIP services of 10 backends each,
// 1,000,000 established TCP flows, packets drawn uniformly over flows, the
// CT-hit fast path including the DNAT rewrite and policy check.
//
// Every flow is opened once (SYN, checked NEW). Then a sequence of ACKs over
// uniformly drawn flows goes through the pipeline R times at advancing virtual
// times, in batches of `batch` packets; as the C limit does (gen, then
// process), each batch is filled just before it is processed and only
// dp.process is timed, so a round's time is the sum over its batches. Every
// packet is checked (FORWARDED, ESTABLISHED, DNAT). No library code in the
// timed loop.
//
// newflow: the same cluster with the same established flows in conntrack (a SYN
// then an ACK each, so they live 6 h); each round times the first packets (SYN)
// of `packets` flows never seen before: conntrack miss, service lookup, backend
// choice, policy, conntrack insert. Rounds are 61 s of virtual time apart and
// an untimed gc() between them removes the previous round's half-open flows
// (SYN lifetime 60 s), so every round meets the same conntrack population.

import { DpemuError } from '../errors.js';
import { createDataplane, createWorkerDataplane } from '../node.js';
import { synthesize, limitsFor, program } from '../controlplane/synthetic.js';
import { fillBatch } from '../traffic.js';
import { Prng } from '../common/prng.js';
import { PacketBatch, PKT, NODE_NONE, TCP, VERDICT, CT_STATE, NAT, VERDICT_NAMES, CT_STATE_NAMES, DROP_REASON_NAMES } from '../packet.js';
import { formatIPv4 } from '../common/ip.js';
import { loadavg } from 'node:os';
import { Dataplane, Design, DESIGN_NAMES } from '../dataplane.js';
import { programSyntheticPolicies, syntheticPolicyLimits } from './policies.js';
import { median, round2 } from './stats.js';

export type FastpathBackend = 'wasm' | 'reference';
import { Scenario, SCENARIOS, FASTPATH_DEFAULTS, fastpathDefaults } from './defaults.js';
export { SCENARIOS, FASTPATH_DEFAULTS, fastpathDefaults };
export type { Scenario };

export interface FastpathConfig {
  scenario?: Scenario;
  services?: number;
  backends?: number;
  flows?: number;
  backend?: FastpathBackend;
  /** Timed rounds (default: 10 for wasm, 7 for reference). */
  rounds?: number;
  /** Packets per timed round (default: 2^20 for wasm, 2^17 for reference). */
  packets?: number;
  /** Packets per process() call (default 2^16). */
  batch?: number;
  /** Client pods the flows come from (default 256). */
  clients?: number;
  /**
   * Nodes the synthetic cluster spreads its pods over (default 1: every packet is processed on one node, the
   * work the C reference of the limit does). With more, a flow to a backend on another node is processed on
   * both nodes (per-node conntrack): two flows in three with 3 nodes.
   */
  nodes?: number;
  seed?: number;
  /**
   * Worker threads sharing each batch (default 1; wasm only), nodes spread over them by shard of per-node state.
   * Per-node state is in `shards` shards (default: the power of two at or above `workers`, at least 2 with several
   * nodes), the same for every worker count compared.
   */
  workers?: number;
  shards?: number;
  /** Dataplane design (default ebpf); every service gets the design's default algorithm. */
  design?: Design;
  /** Synthetic ingress policies isolating every backend (src/bench/policies.ts); default 0. */
  policies?: number;
  /** Progress lines (to stderr in the CLI); silent by default. */
  log?: (line: string) => void;
}

export interface FastpathResult {
  scenario: Scenario;
  design: Design;
  backend: FastpathBackend;
  services: number;
  backends: number;
  flows: number;
  /** Packets per timed round. */
  packets: number;
  /** Packets per process() call. */
  batch: number;
  rounds: number;
  /** Packets measured in all: packets x rounds. */
  measured_packets: number;
  /** Median over rounds, millions of packets per second. */
  mpps: number;
  mpps_min: number;
  mpps_max: number;
  /** Median round, nanoseconds per packet. */
  ns_per_packet: number;
  round_ms: number[];
  /** New-flow (SYN, CT miss) throughput while opening every flow. */
  warm_mpps: number;
  warm_packets: number;
  program_ms: number;
  ct_count: number;
  /** wasm only: bytes of linear memory the maps take (after programming, before the batch), per flow. */
  bytes_per_flow?: number;
  /** wasm only: bytes of linear memory in use at the end (maps and batch). */
  memory_bytes?: number;
  seed: number;
  node: string;
  /** 1-minute load average when the rounds ended (other work on the machine skews the figures). */
  loadavg: number;
  /** Worker threads that shared the batches, and the shards of per-node state. */
  workers: number;
  shards: number;
}


export class BenchmarkError extends DpemuError {
  constructor(message: string) { super('BENCHMARK', message); }
}


function describe(batch: PacketBatch, k: number): string {
  const r = batch.get(k);
  return `packet ${k} ${formatIPv4(r.saddr)}:${r.sport} -> ${formatIPv4(r.daddr)}:${r.dport}: ` +
    `verdict ${VERDICT_NAMES[r.verdict] ?? r.verdict}, drop ${DROP_REASON_NAMES[r.dropReason] ?? r.dropReason}, ` +
    `ct ${CT_STATE_NAMES[r.ctState] ?? r.ctState}, nat flags ${r.natFlags}`;
}

/** Count packets of the batch whose fate is not the expected one; throw with the first one if any. */
/** Packets of the batch processed on a second node too. */
function countSecondHops(batch: PacketBatch, count: number): number {
  const d = batch.view();
  let n = 0;
  for (let k = 0; k < count; k++) if (d.getUint16(k * PKT.STRIDE + PKT.HOP_NODE, true) !== NODE_NONE) n++;
  return n;
}

function expectAll(batch: PacketBatch, count: number, ctState: number, what: string): void {
  const u8 = batch.bytes(count);
  let bad = 0, first = -1;
  for (let k = 0, o = 0; k < count; k++, o += PKT.STRIDE) {
    if (u8[o + PKT.VERDICT] !== VERDICT.FORWARDED || u8[o + PKT.CT_STATE] !== ctState || (u8[o + PKT.NAT_FLAGS] & NAT.DNAT) === 0) {
      if (first < 0) first = k;
      bad++;
    }
  }
  if (bad > 0) {
    throw new BenchmarkError(`${what}: ${bad} of ${count} packets were not FORWARDED/${CT_STATE_NAMES[ctState]}/DNAT; first: ${describe(batch, first)}`);
  }
}


/** A scenario set up and warmed, whose timed rounds can be run one at a time (interleaved with another's). */
export interface PreparedScenario {
  /** Throughput of the warm-up (every flow opened through the new-flow path), millions of packets per second. */
  warmMpps: number;
  /** Run timed round `r` (0, 1, 2, ... in order); returns its milliseconds (process() calls only). */
  round(r: number): number;
  /** The result over the given round times. */
  finish(roundMs: number[]): FastpathResult;
  /** Stop the dataplane's worker threads (if any). */
  close(): Promise<void>;
  /**
   * The fastpath scenario's: work as the rounds do for `ms` milliseconds, batch after batch of the measured sequence,
   * each filled then processed, going on where the last call stopped. A partner's load (side-by-side.ts).
   */
  keepBusy?(ms: number): void;
}

/**
 * Run the timed rounds of several prepared scenarios taking turns, round r starting at scenario r mod n, so
 * a change of load on this shared machine hits all of them alike (bench --growth, the sweep's chart lines).
 * Returns each scenario's round times. A scenario whose round throws runs no more rounds; `failed` hears
 * of it (without it, the error is thrown).
 */
export function takeTurns(scenarios: readonly { rounds: number; round(r: number): number }[],
  failed?: (index: number, error: unknown) => void): number[][] {
  const ms: number[][] = scenarios.map(() => []);
  const out = new Set<number>();
  for (const [i, r] of turns(scenarios)) {
    if (out.has(i)) continue;
    try { ms[i].push(scenarios[i].round(r)); } catch (e) {
      if (!failed) throw e;
      out.add(i); failed(i, e);
    }
  }
  return ms;
}

/** The order takeTurns runs rounds in: (scenario, round) pairs, round r starting at scenario r mod n. */
export function* turns(scenarios: readonly { rounds: number }[]): Generator<[number, number]> {
  const rounds = Math.max(0, ...scenarios.map((s) => s.rounds));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < scenarios.length; k++) {
      const i = (r + k) % scenarios.length;
      if (r < scenarios[i].rounds) yield [i, r];
    }
  }
}

export async function runFastpath(cfg: FastpathConfig = {}): Promise<FastpathResult> {
  const p = await prepareScenario(cfg);
  try {
    const roundMs: number[] = [];
    for (let r = 0; r < p.rounds; r++) roundMs.push(p.round(r));
    return p.finish(roundMs);
  } finally {
    await p.close();
  }
}

/** Build, program and warm up the scenario of `cfg`; the timed rounds are the caller's to run. */
export async function prepareScenario(cfg: FastpathConfig = {}): Promise<PreparedScenario & { rounds: number }> {
  const backend = cfg.backend ?? 'wasm';
  const scenario = cfg.scenario ?? 'fastpath';
  if (!SCENARIOS.includes(scenario)) throw new BenchmarkError(`unknown scenario ${JSON.stringify(scenario)}; known scenarios: ${SCENARIOS.join(', ')}`);
  const services = cfg.services ?? FASTPATH_DEFAULTS.services;
  const backends = cfg.backends ?? FASTPATH_DEFAULTS.backends;
  const flows = cfg.flows ?? FASTPATH_DEFAULTS.flows;
  const clients = cfg.clients ?? FASTPATH_DEFAULTS.clients;
  const seed = cfg.seed ?? FASTPATH_DEFAULTS.seed;
  const d = fastpathDefaults(backend, scenario);
  const rounds = cfg.rounds ?? d.rounds;
  const packets = cfg.packets ?? d.packets;
  const batchSize = Math.min(cfg.batch ?? 1 << 16, packets);
  const log = cfg.log ?? (() => {});
  const design = cfg.design ?? 'ebpf';
  if (!DESIGN_NAMES.includes(design)) throw new BenchmarkError(`unknown design ${JSON.stringify(design)}; known designs: ${DESIGN_NAMES.join(', ')}`);

  const int = (name: string, v: number, min: number, max: number) => {
    if (!(Number.isInteger(v) && v >= min && v <= max)) throw new BenchmarkError(`${name}: ${v} is not an integer in ${min}..${max}`);
  };
  int('services', services, 1, 1_000_000);
  int('backends', backends, 1, 1000);
  int('clients', clients, 1, 65533 * 3);
  // flowPacket gives flow f the source port 1024 + floor(f / clients) % 64000: beyond this, tuples repeat.
  const distinct = scenario === 'newflow' ? flows + rounds * packets : flows;
  int('flows', distinct, 1, clients * 64000);
  int('rounds', rounds, 1, 10_000);
  int('packets', packets, 1, 1 << 24);
  int('batch', batchSize, 1, 1 << 24);
  // Flows are opened at 1 s and hit at 2 s, 3 s, ...: well inside the SYN lifetime (60 s), and the
  // first ACK makes them established (TCP lifetime, 6 h), so nothing expires during the rounds.

  const cluster = synthesize({ services, backends, clients, design, seed, nodes: cfg.nodes ?? 1 });
  // newflow inserts a round's flows on top of the population: room for them, as an operator sizes the table.
  const capacity = scenario === 'newflow' ? flows + packets : flows;
  const policies = cfg.policies ?? 0;
  const workers = cfg.workers ?? 1;
  int('workers', workers, 1, 64);
  if (workers > 1 && backend !== 'wasm') throw new BenchmarkError('workers: the reference backend runs on one thread');
  const shards = cfg.shards ?? Math.max(2 ** Math.ceil(Math.log2(workers)), cluster.nodes.length > 1 ? 2 : 1);
  const options = { ...limitsFor(cluster, capacity), ...syntheticPolicyLimits(cluster, policies), seed, design, shards };
  // Each shard may hold every flow: the nodes' traffic need not be even.
  options.maxFlows *= shards;
  const dp: Dataplane = backend === 'wasm' ? await createWorkerDataplane(options, workers) : await createDataplane(backend, options);
  const close = async () => { if ('close' in dp) await (dp as { close(): Promise<void> }).close(); };
  const sharing = 'workers' in dp ? (dp as { workers: number }).workers : 1;
  let t = performance.now();
  program(dp, cluster);
  programSyntheticPolicies(dp, cluster, policies);
  const programMs = performance.now() - t;
  const mapsBytes = 'memoryBytes' in dp ? (dp as { memoryBytes(): number }).memoryBytes() : undefined;
  log(`${backend}: programmed ${services} services x ${backends} backends in ${programMs.toFixed(0)} ms`);

  // Warm-up: open every flow once, SYN at t=1000 ms (for newflow, an ACK after it: established, 6 h).
  const batch = dp.allocBatch(batchSize);
  let warmMs = 0;
  let secondHops = 0; // flows to a backend on another node: tracked on that node too
  for (let start = 0; start < flows; start += batchSize) {
    const n = Math.min(batchSize, flows - start);
    fillBatch(batch, cluster, n, (k) => start + k, TCP.SYN);
    t = performance.now();
    dp.process(batch, n, 1000);
    warmMs += performance.now() - t;
    expectAll(batch, n, CT_STATE.NEW, `warm-up (flows ${start}..${start + n - 1})`);
    secondHops += countSecondHops(batch, n);
    if (scenario === 'newflow') {
      fillBatch(batch, cluster, n, (k) => start + k, TCP.ACK);
      dp.process(batch, n, 1001);
      expectAll(batch, n, CT_STATE.ESTABLISHED, `warm-up ACKs (flows ${start}..${start + n - 1})`);
    }
  }
  if (dp.ctCount() !== flows + secondHops) {
    throw new BenchmarkError(`warm-up: conntrack holds ${dp.ctCount()} entries, expected ${flows + secondHops} (${flows} flows, ${secondHops} of them on a second node too)`);
  }
  log(`${backend}: opened ${flows} flows at ${(flows / warmMs / 1e3).toFixed(2)} Mpps`);

  if (scenario === 'newflow') {
    const newflowRound = (r: number): number => {
      const now = 2000 + 61_000 * r;
      if (r > 0) dp.gc(now); // the previous round's SYN-only flows are gone: the same population every round
      const first = flows + r * packets;
      let ms = 0;
      for (let start = 0; start < packets; start += batchSize) {
        const n = Math.min(batchSize, packets - start);
        fillBatch(batch, cluster, n, (k) => first + start + k, TCP.SYN);
        t = performance.now();
        dp.process(batch, n, now);
        ms += performance.now() - t;
        expectAll(batch, n, CT_STATE.NEW, `round ${r}, new flows ${first + start}..${first + start + n - 1}`);
      }
      return ms;
    };
    return { rounds, warmMpps: flows / warmMs / 1e3, round: newflowRound, finish, close };
  }

  // The measured sequence: flows drawn uniformly with a seeded PRNG, replayed every round as TCP ACKs.
  const rng = new Prng(seed ^ 0x9e3779b9);
  const drawn = new Uint32Array(packets);
  for (let k = 0; k < packets; k++) drawn[k] = Math.floor((rng.next() / 4294967296) * flows);

  const fastpathRound = (r: number): number => {
    const now = 2000 + 1000 * r;
    let ms = 0;
    for (let start = 0; start < packets; start += batchSize) {
      const n = Math.min(batchSize, packets - start);
      fillBatch(batch, cluster, n, (k) => drawn[start + k], TCP.ACK);
      t = performance.now();
      dp.process(batch, n, now);
      ms += performance.now() - t;
      expectAll(batch, n, CT_STATE.ESTABLISHED, `round ${r}, packets ${start}..${start + n - 1}`);
    }
    return ms;
  };
  // The same work as the rounds, batch after batch (each filled, then processed), over the whole packet sequence: the
  // same working set and the same filling between batches as a measured round, not the first batch over and over.
  let busyAt = 0; // the next packet of the sequence to process
  const keepBusy = (ms: number): void => {
    for (const end = performance.now() + ms; performance.now() < end;) {
      const n = Math.min(batchSize, packets - busyAt);
      fillBatch(batch, cluster, n, (k) => drawn[busyAt + k], TCP.ACK);
      dp.process(batch, n, 2000);
      busyAt = (busyAt + n) % packets;
    }
  };
  return { rounds, warmMpps: flows / warmMs / 1e3, round: fastpathRound, finish, close, keepBusy };

  function finish(roundMs: number[]): FastpathResult {
    const med = median(roundMs);
    const result: FastpathResult = {
      scenario, design, backend, services, backends, flows, packets, batch: batchSize, rounds, measured_packets: packets * rounds,
      mpps: round2(packets / med / 1e3),
      mpps_min: round2(packets / Math.max(...roundMs) / 1e3),
      mpps_max: round2(packets / Math.min(...roundMs) / 1e3),
      ns_per_packet: Math.round((med * 1e6 / packets) * 10) / 10,
      round_ms: roundMs.map((x) => Math.round(x * 1e4) / 1e4), // 0.1 us: a tiny round can take a few us
      warm_mpps: round2(flows / warmMs / 1e3), warm_packets: flows,
      program_ms: Math.round(programMs),
      ct_count: dp.ctCount(),
      seed, node: process.version, loadavg: Math.round(loadavg()[0] * 100) / 100, workers: sharing, shards,
    };
    if (mapsBytes !== undefined) {
      result.bytes_per_flow = Math.round(mapsBytes / flows);
      result.memory_bytes = (dp as unknown as { memoryBytes(): number }).memoryBytes();
    }
    log(`${backend}: ${scenario}, ${rounds} rounds of ${packets} packets, median ${result.mpps} Mpps`);
    return result;
  }
}
