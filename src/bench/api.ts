// `bench --api`: what the library API costs on top of the core, measured in one process with the rounds of
// every figure taking turns (the machine's drift hits them alike).
//
// The cluster: `services` ClusterIP Services of `backends` endpoints (Kubernetes objects, as
// `bench --control-plane` makes them) given to createEmulator; `flows` TCP connections opened through
// send() first (untimed). Then, per round, the same `packets` ACKs of established flows (one packet per
// flow drawn at random) through:
//   json     a bare JSON.parse + JSON.stringify of each packet's line: the yardstick of the targets
//   send     emu.send(packet objects), 1,024 at a time: records as dpemu trace prints them
//   trace    emu.traceJson(lines): JSON lines in, JSON records out, what `dpemu trace` does per line
//   process  emu.process(batch): the zero-copy path over a batch in the core's memory
//   core     runFastpath, the core's own fast-path figure (a synthetic cluster of the same size programmed
//            directly), for the zero-copy target
// Targets: send >= 0.7 x json; trace >= 0.7 x json; process within 10% of core (>= 0.9).

import { createEmulator } from '../index.node.js';
import type { Emulator, PacketInput } from '../api/types.js';
import { controlPlaneObjects } from './controlplane.js';
import { prepareScenario } from './fastpath.js';
import { median, round2 } from './stats.js';
import { Prng } from '../common/prng.js';
import { BenchmarkError } from './fastpath.js';

export interface ApiBenchConfig {
  services?: number; backends?: number; flows?: number; packets?: number; rounds?: number; seed?: number;
  log?: (line: string) => void;
}

export interface ApiBenchResult {
  api: true;
  services: number; backends: number; flows: number; packets: number; rounds: number;
  /** Median packets (or records) per second of each path, over the rounds. */
  per_second: { json: number; send: number; trace: number; process: number; core: number };
  /** Each round's figures, in the order they ran. */
  runs: { json: number[]; send: number[]; trace: number[]; process: number[]; core: number[] };
  ratios: { send_vs_json: number; trace_vs_json: number; process_vs_core: number };
  targets: { send_vs_json: number; trace_vs_json: number; process_vs_core: number };
  pass: { send: boolean; trace: boolean; process: boolean };
  node: string;
}

export const API_BENCH_DEFAULTS = { services: 1000, backends: 10, flows: 100_000, packets: 50_000, rounds: 7, seed: 1 } as const;
export const API_TARGETS = { send_vs_json: 0.7, trace_vs_json: 0.7, process_vs_core: 0.9 } as const;

const NODES = 3;
const nodeName = (i: number) => `node-${String(i % NODES).padStart(4, '0')}`;

/** A client address per flow, outside every pod CIDR (the packets name the node they enter on). */
const clientOf = (f: number) => `10.200.${(f >> 8) & 255}.${f & 255}`;

export async function runApiBench(cfg: ApiBenchConfig = {}): Promise<ApiBenchResult> {
  const services = cfg.services ?? API_BENCH_DEFAULTS.services;
  const backends = cfg.backends ?? API_BENCH_DEFAULTS.backends;
  const flows = cfg.flows ?? API_BENCH_DEFAULTS.flows;
  const packets = cfg.packets ?? API_BENCH_DEFAULTS.packets;
  const rounds = cfg.rounds ?? API_BENCH_DEFAULTS.rounds;
  const log = cfg.log ?? (() => {});
  if (!(Number.isInteger(flows) && flows >= 1 && flows <= 1 << 19)) throw new BenchmarkError(`flows: ${flows} is not in 1..${1 << 19} (65,536 client addresses x 8 ports)`);

  log(`api: ${services} services x ${backends} endpoints, ${flows} flows`);
  const objs = controlPlaneObjects(services, services * backends, NODES);
  const emu = await createEmulator({ flows, seed: cfg.seed ?? 1, cluster: [...objs.nodes, ...objs.services, ...objs.slices] as Record<string, unknown>[] });
  const vips = emu.services().map((s) => s.frontends[0].address.split(':')[0]);

  // Open the flows (SYN), untimed.
  const flow = (f: number, flags: string): PacketInput => ({
    src: clientOf(f), dst: vips[f % vips.length], sport: 10000 + (f >> 16), dport: 80, flags, node: nodeName(f), t: 1,
  });
  for (let f = 0; f < flows; f += 1024) emu.send(Array.from({ length: Math.min(1024, flows - f) }, (_, i) => flow(f + i, 'S')));
  if (emu.conntrack().length !== flows) throw new BenchmarkError(`opened ${emu.conntrack().length} of ${flows} flows`);

  // The timed packets: ACKs of flows drawn at random.
  const prng = new Prng(cfg.seed ?? 1);
  const objects: PacketInput[] = Array.from({ length: packets }, () => flow(prng.next() % flows, 'A'));
  const lines = objects.map((o) => JSON.stringify(o));
  const batch = emu.createBatch(packets);
  objects.forEach((p, i) => batch.set(i, p));
  const core = await prepareScenario({ scenario: 'fastpath', services, backends, flows, packets, rounds, seed: cfg.seed ?? 1 });

  const runs = { json: [] as number[], send: [] as number[], trace: [] as number[], process: [] as number[], core: [] as number[] };
  const rate = (ms: number) => Math.round(packets / (ms / 1000));
  const timed = (f: () => void) => { const t0 = performance.now(); f(); return rate(performance.now() - t0); };
  let sink = 0;
  const pass = {
    json: () => timed(() => { for (const l of lines) sink += JSON.stringify(JSON.parse(l)).length; }),
    send: () => timed(() => { for (let i = 0; i < packets; i += 1024) sink += sendChunk(emu, objects, i); }),
    trace: () => timed(() => {
      for (let i = 0; i < packets; i += 1024) for (const text of emu.traceJson(lines.slice(i, i + 1024))) sink += text.length;
    }),
    process: () => timed(() => { sink += emu.process(batch, packets); }),
  };
  for (let r = 0; r < rounds + 1; r++) { // round 0 warms up (JIT) and is not counted
    const order = (['json', 'send', 'trace', 'process'] as const);
    const got: Record<string, number> = {};
    for (const k of order) got[k] = pass[k]();
    const coreMs = core.round(r % core.rounds);
    if (r === 0) continue;
    for (const k of order) runs[k].push(got[k]);
    runs.core.push(rate(coreMs));
    log(`round ${r}/${rounds}: json ${got.json}/s, send ${got.send}/s, trace ${got.trace}/s, process ${got.process}/s, core ${runs.core.at(-1)}/s`);
  }
  if (sink === 0) throw new BenchmarkError('nothing was measured');
  const per_second = { json: median(runs.json), send: median(runs.send), trace: median(runs.trace), process: median(runs.process), core: median(runs.core) };
  const ratios = {
    send_vs_json: round2(per_second.send / per_second.json),
    trace_vs_json: round2(per_second.trace / per_second.json),
    process_vs_core: round2(per_second.process / per_second.core),
  };
  return {
    api: true, services, backends, flows, packets, rounds, per_second, runs, ratios, targets: { ...API_TARGETS },
    pass: { send: ratios.send_vs_json >= API_TARGETS.send_vs_json, trace: ratios.trace_vs_json >= API_TARGETS.trace_vs_json, process: ratios.process_vs_core >= API_TARGETS.process_vs_core },
    node: process.version,
  };
}

function sendChunk(emu: Emulator, objects: PacketInput[], i: number): number {
  return emu.send(objects.slice(i, i + 1024)).length;
}

export function formatApiBench(r: ApiBenchResult): string {
  const m = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
  const ok = (b: boolean) => (b ? 'met' : 'NOT met');
  return [
    `library API: ${r.services} services x ${r.backends} endpoints, ${r.flows} established flows, ${r.packets} ACKs per round, ${r.rounds} rounds (medians)`,
    `  JSON.parse + JSON.stringify  ${m(r.per_second.json)}`,
    `  send() of packet objects     ${m(r.per_second.send)}  = ${r.ratios.send_vs_json}x JSON (target >= ${r.targets.send_vs_json}: ${ok(r.pass.send)})`,
    `  trace() lines -> JSON lines  ${m(r.per_second.trace)}  = ${r.ratios.trace_vs_json}x JSON (target >= ${r.targets.trace_vs_json}: ${ok(r.pass.trace)})`,
    `  process() zero-copy batch    ${m(r.per_second.process)}  = ${r.ratios.process_vs_core}x the core's fast path, ${m(r.per_second.core)} (target >= ${r.targets.process_vs_core}: ${ok(r.pass.process)})`,
  ].join('\n');
}
