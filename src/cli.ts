#!/usr/bin/env node
// dpemu command line: `demo` (the built-in example, what `npm start` runs),
// `bench` (throughput scenarios, src/bench/), `trace` (packets through a cluster
// loaded from Kubernetes manifests, src/trace.ts) and `check` (what in the
// manifests would make Services drop or reject traffic, src/k8s/check.ts).
// Commander only parses arguments; the work is in those modules.

import { setFlagsFromString } from 'node:v8';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { styleText } from 'node:util';
import { Command, Option, InvalidArgumentError } from 'commander';
import { createDataplane, BackendKind } from './node.js';
import { synthesize, limitsFor, program, SyntheticCluster } from './controlplane/synthetic.js';
import { formatIPv4 } from './common/ip.js';
import {
  PacketIn, PacketRecord, NONE, PROTO, CT_STATE, PROTO_NAMES, TCP, NAT, VERDICT, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE_NAMES,
  formatTcpFlags,
} from './packet.js';
import type { Dataplane } from './dataplane.js';
import { runFastpath, fastpathDefaults, FASTPATH_DEFAULTS, SCENARIOS, Scenario } from './bench/fastpath.js';
import { runCompare, defaultLimitPath, packageRoot } from './bench/compare.js';
import { formatFastpath, formatCompare } from './bench/report.js';
import { runSweep, writeSweep, formatSweep, defaultSweepDir } from './bench/sweep.js';
import { runGrowth, formatGrowth } from './bench/growth.js';
import { runMicro, formatMicro } from './bench/micro.js';
import { runApiBench, formatApiBench } from './bench/api.js';
import { runPolicyBench, formatPolicyBench } from './bench/policy.js';
import { runControlPlane, formatControlPlane, CONTROL_PLANE_DEFAULTS } from './bench/controlplane.js';
import { createReadStream } from 'node:fs';
import { ALGO_NAMES, Algorithm, DESIGN_NAMES, Design, DEFAULT_ALGO } from './dataplane.js';
import { loadFiles } from './k8s/files.js';
import { checkCluster, hasErrors } from './k8s/check.js';
import type { Diagnostic } from './k8s/model.js';
import { formatSource } from './k8s/model.js';
import { UsageError } from './errors.js';
import { createEmulator, DpemuError } from './index.node.js';
import { readManifestFiles, traceStream } from './node-api.js';
import { traceStreamHubble } from './output/hubble-stream.js';

// A larger young generation for the short-lived objects of every traced packet (JSON values, records):
// measured with `bench --api`-sized traffic, it halves the time `trace` spends in garbage collection.
setFlagsFromString('--max-semi-space-size=64');
import { registerExport } from './export/command.js';
import { getKind, getListing } from './get.js';
import { dnsStream } from './dns/cli.js';

// ---------------------------------------------------------------- output helpers

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
type Style = Parameters<typeof styleText>[0];
const paint = (style: Style, text: string) => (color ? styleText(style, text) : text);

function natNames(flags: number): string[] {
  const out: string[] = [];
  for (const [name, bit] of Object.entries(NAT)) if (flags & bit) out.push(name);
  return out;
}

// ---------------------------------------------------------------- demo

interface DemoPacket { note: string; pkt: PacketIn }
interface DemoStep { t: number; packets: (DemoPacket | undefined)[] }
interface DemoRow { t: number; note: string; rec: PacketRecord }

/** The built-in example cluster. */
const EXAMPLE_SPEC = {
  nodes: 3, services: 8, backends: 3, algo: 'mix', clients: 8, affinityFraction: 0.25, emptyFraction: 0.1, seed: 1,
} as const;

async function demo(opts: { json?: boolean; backend: BackendKind; design: Design }): Promise<void> {
  // 'mix' cycles through the design's own algorithms.
  const cluster: SyntheticCluster = synthesize({ ...EXAMPLE_SPEC, design: opts.design });
  const svcCount = cluster.services.length;
  const dp: Dataplane = await createDataplane(opts.backend, {
    ...limitsFor(cluster, 1024), maxServices: svcCount + 1, maxFrontends: svcCount + 16, seed: 1, design: opts.design,
  });
  program(dp, cluster);
  const serviceName = new Map<number, string>(cluster.services.map((s) => [s.index, s.name]));

  // A service without endpoints: the example's own if it has one, else one more, added here.
  const empty = cluster.services.find((s) => s.backends.length === 0);
  let emptyVip: number, emptyPort: number;
  if (empty) {
    emptyVip = empty.vip; emptyPort = empty.port;
  } else {
    const index = svcCount;
    emptyVip = (cluster.services[svcCount - 1].vip + 1) >>> 0; emptyPort = 80;
    dp.setService(index, { algo: DEFAULT_ALGO[opts.design], backends: [] });
    dp.upsertFrontend({ addr: emptyVip, port: emptyPort, proto: PROTO.TCP }, index);
    serviceName.set(index, 'default/no-endpoints');
  }
  // A UDP port (53/udp, "dns") on the first service with backends and no affinity.
  const udpSvc = cluster.services.find((s) => s.backends.length > 0 && s.affinityTimeout === 0 && s.algo === DEFAULT_ALGO[opts.design])
    ?? cluster.services.find((s) => s.backends.length > 0)!;
  dp.upsertFrontend({ addr: udpSvc.vip, port: 53, proto: PROTO.UDP }, udpSvc.index);

  const withBackends = cluster.services.filter((s) => s.backends.length > 0);
  const affine = withBackends.find((s) => s.affinityTimeout > 0) ?? withBackends[0];
  const others = withBackends.filter((s) => s !== affine && s !== udpSvc);
  const cl = cluster.clients;

  // Connections: A to the affinity service (opened, data, closed), B..D to three more services,
  // E a second connection of A's client to the same service (affinity: same backend).
  const conns = [
    { id: 'A', client: cl[0], svc: affine, sport: 40000 },
    { id: 'B', client: cl[1], svc: others[0], sport: 40001 },
    { id: 'C', client: cl[2], svc: others[1], sport: 40002 },
    { id: 'D', client: cl[3], svc: others[2], sport: 40003 },
    { id: 'E', client: cl[0], svc: affine, sport: 40004 },
  ];
  const conn = (id: string) => conns.find((c) => c.id === id)!;
  const fwd = (id: string, flags: number, note: string): DemoPacket => {
    const c = conn(id);
    return { note: `${id} ${note}`, pkt: { saddr: c.client.addr, daddr: c.svc.vip, sport: c.sport, dport: c.svc.port, proto: c.svc.proto, tcpFlags: flags, node: c.client.node } };
  };
  // What each connection's first packet became (read after its step), for the replies.
  const opened = new Map<string, PacketRecord>();
  // Undefined when the connection was never opened (its first packet was not forwarded NEW).
  const rev = (id: string, flags: number, note: string, proto: number = PROTO.TCP): DemoPacket | undefined => {
    const o = opened.get(id);
    if (!o) return undefined;
    const node = o.backend !== NONE ? cluster.backends[o.backend].node : 0;
    return { note: `${id} ${note}`, pkt: { saddr: o.outDaddr, daddr: o.outSaddr, sport: o.outDport, dport: o.outSport, proto, tcpFlags: flags, node } };
  };
  const udpClient = cl[4];
  const steps: (() => DemoStep)[] = [
    () => ({ t: 1000, packets: ['A', 'B', 'C', 'D'].map((id) => fwd(id, TCP.SYN, 'SYN')) }),
    () => ({ t: 1001, packets: ['A', 'B', 'C', 'D'].map((id) => rev(id, TCP.SYN | TCP.ACK, 'SYN-ACK from backend')) }),
    () => ({ t: 1002, packets: [...['A', 'B', 'C', 'D'].map((id) => fwd(id, TCP.ACK, 'ACK')), fwd('A', TCP.PSH | TCP.ACK, 'data')] }),
    () => ({ t: 1500, packets: [
      fwd('E', TCP.SYN, 'SYN, same client and service as A'),
      { note: 'U UDP query', pkt: { saddr: udpClient.addr, daddr: udpSvc.vip, sport: 45353, dport: 53, proto: PROTO.UDP, node: udpClient.node } },
      { note: 'R SYN to a service without endpoints', pkt: { saddr: cl[5].addr, daddr: emptyVip, sport: 40010, dport: emptyPort, proto: PROTO.TCP, tcpFlags: TCP.SYN, node: cl[5].node } },
      { note: 'X protocol 99 (unknown L4)', pkt: { saddr: cl[6].addr, daddr: others[0].vip, sport: 40011, dport: others[0].port, proto: 99, node: cl[6].node } },
    ] }),
    () => ({ t: 1501, packets: [rev('U', 0, 'UDP answer from backend', PROTO.UDP), rev('E', TCP.SYN | TCP.ACK, 'SYN-ACK from backend')] }),
    () => ({ t: 2000, packets: [fwd('A', TCP.FIN | TCP.ACK, 'FIN from client')] }),
    () => ({ t: 2001, packets: [rev('A', TCP.FIN | TCP.ACK, 'FIN from backend')] }),
    () => ({ t: 2002, packets: [fwd('A', TCP.ACK, 'last ACK')] }),
  ];

  const batch = dp.allocBatch(16);
  const rows: DemoRow[] = [];
  for (const make of steps) {
    const step = make();
    const packets = step.packets.filter((p): p is DemoPacket => p !== undefined);
    packets.forEach((p, i) => batch.set(i, p.pkt));
    dp.process(batch, packets.length, step.t);
    packets.forEach((p, i) => {
      const rec = batch.get(i);
      rows.push({ t: step.t, note: p.note, rec });
      const id = p.note.split(' ')[0];
      if (!opened.has(id) && rec.verdict === VERDICT.FORWARDED && rec.ctState === CT_STATE.NEW) opened.set(id, rec);
    });
  }

  const backendText = (id: number) => {
    if (id === NONE) return '-';
    const b = cluster.backends[id];
    return b ? `${formatIPv4(b.addr)}:${b.port}` : `#${id}`;
  };
  const proto = (p: number) => PROTO_NAMES[p] ?? String(p);

  if (opts.json) {
    for (const { t, note, rec: r } of rows) {
      const forwarded = r.verdict === VERDICT.FORWARDED;
      console.log(JSON.stringify({
        t_ms: t, note,
        in: { saddr: formatIPv4(r.saddr), sport: r.sport, daddr: formatIPv4(r.daddr), dport: r.dport, proto: proto(r.proto), tcp_flags: r.proto === PROTO.TCP ? formatTcpFlags(r.tcpFlags) : undefined, node: r.node },
        out: forwarded ? { saddr: formatIPv4(r.outSaddr), sport: r.outSport, daddr: formatIPv4(r.outDaddr), dport: r.outDport } : null,
        verdict: VERDICT_NAMES[r.verdict], drop_reason: DROP_REASON_NAMES[r.dropReason], ct_state: CT_STATE_NAMES[r.ctState],
        nat: natNames(r.natFlags),
        service: r.service === NONE ? null : serviceName.get(r.service) ?? r.service,
        backend: r.backend === NONE ? null : backendText(r.backend),
        policy_rule: r.policyRule,
      }));
    }
    return;
  }

  const header = ['time', 'packet', 'in', 'out', 'verdict', 'drop reason', 'ct', 'nat', 'service', 'backend'];
  const table = rows.map(({ t, note, rec: r }) => {
    const flags = r.proto === PROTO.TCP ? ' ' + (formatTcpFlags(r.tcpFlags) || '-') : '';
    return [
      `${(t / 1000).toFixed(3)}s`, note,
      `${formatIPv4(r.saddr)}:${r.sport} > ${formatIPv4(r.daddr)}:${r.dport} ${proto(r.proto)}${flags}`,
      r.verdict === VERDICT.FORWARDED ? `${formatIPv4(r.outSaddr)}:${r.outSport} > ${formatIPv4(r.outDaddr)}:${r.outDport}` : '-',
      VERDICT_NAMES[r.verdict] ?? String(r.verdict),
      r.dropReason ? DROP_REASON_NAMES[r.dropReason] ?? String(r.dropReason) : '-',
      CT_STATE_NAMES[r.ctState] ?? String(r.ctState),
      natNames(r.natFlags).join(',') || '-',
      r.service === NONE ? '-' : serviceName.get(r.service) ?? String(r.service),
      backendText(r.backend),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[], style?: (i: number, cell: string) => Style | undefined) =>
    cells.map((c, i) => {
      const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]);
      const s = style?.(i, c);
      return s ? paint(s, padded) : padded;
    }).join('  ');
  const verdictStyle = (v: string): Style => (v === 'FORWARDED' ? 'green' : v === 'REJECTED' ? 'yellow' : 'red');

  console.log(paint('bold', `dpemu demo: ${cluster.nodes.length} nodes, ${svcCount} services (${[...new Set(cluster.services.map((s) => s.algo))].join(', ')}), ${cluster.backends.length} backends, ${cl.length} clients; ${dp.kind} dataplane, ${opts.design} design`));
  console.log(line(header, () => 'bold'));
  for (const row of table) console.log(line(row, (i, c) => (i === 4 ? verdictStyle(c) : i === 0 ? 'dim' : undefined)));

  const c = dp.counters();
  console.log();
  const a = conn('A'), last = rows[rows.length - 1].t;
  const fa = dp.flow(a.client.addr, a.svc.vip, a.sport, a.svc.port, PROTO.TCP, last);
  const fd = dp.flow(conn('D').client.addr, conn('D').svc.vip, conn('D').sport, conn('D').svc.port, PROTO.TCP, last);
  if (fa && fd) {
    console.log(paint('bold', 'conntrack lifetimes') + ` (at ${(last / 1000).toFixed(3)}s)`);
    console.log(`  A (closed by FIN/FIN)  expires at ${(fa.expires / 1000).toFixed(3)}s, in ${((fa.expires - last) / 1000).toFixed(0)} s; ${fa.packets} packets`);
    console.log(`  D (established)        expires at ${(fd.expires / 1000).toFixed(3)}s, in ${((fd.expires - last) / 1000).toFixed(0)} s; ${fd.packets} packets`);
    console.log();
  }
  console.log(paint('bold', 'counters'));
  console.log(`  verdicts   ${Object.entries(c.verdicts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`  drops      ${Object.entries(c.drops).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  console.log(`  conntrack  created ${c.ctCreated}, live ${dp.ctCount()}, evicted ${c.ctEvicted}, expired ${c.ctExpired}`);
  console.log(`  traffic    ${c.packets} packets, ${c.bytes} bytes, ${c.policyLookups} policy lookups`);
}

// ---------------------------------------------------------------- bench



function integer(name: string) {
  return (v: string): number => {
    const x = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return x;
  };
}

interface BenchOpts {
  scenario: string; services: number; backends: number; flows: number; backend: 'wasm' | 'reference';
  rounds?: number; packets?: number; batch?: number; repeats?: number; seed: number; json?: boolean; compare?: boolean; limit?: string; quiet?: boolean;
  sweep?: boolean; quick?: boolean; out?: string; design: Design;
  micro?: boolean; controlPlane?: boolean; endpoints?: number; changes?: number; designs?: string;
  policy?: boolean; pods?: number; policies?: number; all?: boolean; growth?: boolean; api?: boolean;
}

/** --designs as a list (undefined: every design). */
const designList = (opts: BenchOpts): Design[] | undefined =>
  opts.designs ? opts.designs.split(',').map((d) => d.trim()).filter(Boolean) as Design[] : undefined;

/** --control-plane sizes: the defaults, --quick's small ones, or what was given. */
const controlPlaneSizes = (q: boolean | undefined, given: { services?: number; endpoints?: number; changes?: number } = {}) => ({
  services: given.services ?? (q ? 100 : CONTROL_PLANE_DEFAULTS.services),
  endpoints: given.endpoints ?? (q ? 1000 : CONTROL_PLANE_DEFAULTS.endpoints),
  changes: given.changes ?? (q ? 100 : CONTROL_PLANE_DEFAULTS.changes),
  compiles: q ? 1 : CONTROL_PLANE_DEFAULTS.compiles,
});

/** Options the whole suite (`bench` alone, or `--all`) takes; any other option asks for one run. */
const SUITE_OPTIONS = new Set(['all', 'quick', 'out', 'repeats', 'designs', 'limit', 'json', 'quiet']);

/**
 * The whole suite, what `npm run bench` and a bare `dpemu bench` run: the micro benchmarks of each stage,
 * the control-plane costs, the new-flow growth of each design, then the scenario sweep (every design;
 * writes sweep.json/.csv/.html).
 */
async function benchSuite(opts: BenchOpts, log: ((s: string) => void) | undefined): Promise<void> {
  const q = opts.quick;
  const say = (s: string) => { if (!opts.json) console.log(s); };
  log?.('suite 1/4: micro benchmarks');
  const micro = await runMicro({ quick: q, log });
  say(formatMicro(micro));
  log?.('suite 2/4: control plane');
  const controlPlane = await runControlPlane({ ...controlPlaneSizes(q), log });
  say('\n' + formatControlPlane(controlPlane));
  log?.('suite 3/4: new-flow growth');
  const designs = designList(opts);
  const growth = await runGrowth(q ? { designs, sizes: [10, 100, 1000], flows: 10_000, packets: 1024, rounds: 3, log } : { designs, log });
  say('\n' + formatGrowth(growth));
  log?.('suite 4/4: sweep');
  const sweep = await runSweep({
    backends: opts.backends, repeats: opts.repeats, quick: q, seed: opts.seed, limitPath: opts.limit ?? defaultLimitPath(), log,
    designs: designList(opts),
  });
  const files = writeSweep(sweep, opts.out ?? defaultSweepDir());
  if (opts.json) console.log(JSON.stringify({ micro, control_plane: controlPlane, growth, sweep: { ...sweep, files } }));
  else console.log(`\n${formatSweep(sweep)}\nwrote ${files.json}, ${files.csv}, ${files.html}`);
}

/** Options that only a plain run (one scenario) takes; the other modes set these themselves. */
const SCENARIO_OPTIONS = ['scenario', 'services', 'flows', 'backend', 'rounds', 'packets', 'batch'];

async function bench(opts: BenchOpts, cmd: Command): Promise<void> {
  if (!(SCENARIOS as readonly string[]).includes(opts.scenario)) {
    throw new UsageError(`unknown scenario ${JSON.stringify(opts.scenario)}; known scenarios: ${SCENARIOS.join(', ')}`);
  }
  const log = opts.quiet ? undefined : (s: string) => process.stderr.write(paintErr('dim', s) + '\n');
  const common = { services: opts.services, backends: opts.backends, flows: opts.flows, seed: opts.seed, log };
  if (cmd.getOptionValueSource('design') === 'cli' && (opts.sweep || opts.compare || opts.micro || opts.controlPlane)) throw new UsageError('--design is for one scenario run; --sweep, --compare, --micro and --control-plane choose their own');
  const modes = (['sweep', 'compare', 'micro', 'controlPlane', 'policy', 'growth', 'api'] as const).filter((m) => opts[m]);
  if (modes.length > 1) throw new UsageError(`${modes.map((m) => (m === 'controlPlane' ? '--control-plane' : `--${m}`)).join(' and ')} are different runs; pick one`);
  const given = (o: string) => cmd.getOptionValueSource(o) === 'cli';
  const others = cmd.options.map((o) => o.attributeName()).filter((o) => given(o) && !SUITE_OPTIONS.has(o));
  if (opts.all && others.length > 0) throw new UsageError(`--all runs the whole suite with its own sizes; drop ${others.map((o) => `--${o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ')}`);
  if (opts.all || others.length === 0) return benchSuite(opts, log);
  if (!opts.controlPlane && (given('endpoints') || given('changes'))) throw new UsageError('--endpoints and --changes are only used with --control-plane');
  if (!opts.sweep && !opts.growth && given('designs')) throw new UsageError('--designs is only used with --sweep and --growth');
  if (!opts.policy && (given('pods') || given('policies'))) throw new UsageError('--pods and --policies are only used with --policy');
  if (opts.policy) {
    for (const o of [...SCENARIO_OPTIONS.filter((x) => x !== 'rounds' && x !== 'packets'), 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--policy takes --pods, --policies, --rounds, --packets and --quick; drop --${o}`);
    const q = opts.quick;
    const r = await runPolicyBench({
      pods: opts.pods ?? (q ? 500 : 10_000), policies: opts.policies ?? (q ? 50 : 1_000),
      rounds: opts.rounds ?? (q ? 1 : undefined), packets: opts.packets ?? (q ? 4096 : undefined), seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatPolicyBench(r));
    return;
  }
  if (opts.api) {
    for (const o of ['scenario', 'backend', 'batch', 'repeats', 'limit', 'out', 'quick', 'design', 'designs']) if (given(o)) throw new UsageError(`--api takes --services, --backends, --flows, --packets and --rounds; drop --${o}`);
    const r = await runApiBench({
      services: given('services') ? opts.services : undefined, backends: given('backends') ? opts.backends : undefined,
      flows: given('flows') ? opts.flows : undefined, packets: opts.packets, rounds: opts.rounds, seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatApiBench(r));
    return;
  }
  if (opts.growth) {
    for (const o of ['scenario', 'services', 'backend', 'batch', 'repeats', 'limit', 'out', 'quick']) if (given(o)) throw new UsageError(`--growth takes --designs, --backends, --flows, --packets and --rounds; drop --${o}`);
    const r = await runGrowth({
      designs: designList(opts),
      backends: opts.backends, flows: given('flows') ? opts.flows : undefined, packets: opts.packets, rounds: opts.rounds, seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatGrowth(r));
    return;
  }
  if (opts.micro) {
    for (const o of [...SCENARIO_OPTIONS, 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--micro sets its own sizes; drop --${o}`);
    const r = await runMicro({ quick: opts.quick, log });
    console.log(opts.json ? JSON.stringify(r) : formatMicro(r));
    return;
  }
  if (opts.controlPlane) {
    for (const o of ['scenario', 'flows', 'backend', 'rounds', 'packets', 'batch', 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--control-plane takes --services, --endpoints, --changes and --quick; drop --${o}`);
    const q = opts.quick;
    const r = await runControlPlane({
      ...controlPlaneSizes(q, { services: given('services') ? opts.services : undefined, endpoints: opts.endpoints, changes: opts.changes }), log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatControlPlane(r));
    return;
  }
  if (opts.sweep) {
    if (opts.compare) throw new UsageError('--sweep and --compare are different runs; pick one');
    for (const o of SCENARIO_OPTIONS) {
      if (cmd.getOptionValueSource(o) === 'cli') throw new UsageError(`--sweep sets --${o} itself (every scenario, services 100..100000, flows 10000..1000000; --quick: a tiny sweep); drop --${o}`);
    }
    const r = await runSweep({
      backends: opts.backends, repeats: opts.repeats, quick: opts.quick, seed: opts.seed, limitPath: opts.limit ?? defaultLimitPath(), log,
      designs: designList(opts),
    });
    const files = writeSweep(r, opts.out ?? defaultSweepDir());
    if (opts.json) console.log(JSON.stringify({ ...r, files }));
    else console.log(`${formatSweep(r)}\nwrote ${files.json}, ${files.csv}, ${files.html}`);
    return;
  }
  if (opts.quick || cmd.getOptionValueSource('out') === 'cli') throw new UsageError('--quick is only used with --sweep, --micro and --control-plane; --out with --sweep');
  if (opts.compare) {
    if (opts.scenario !== 'fastpath') throw new UsageError('--compare holds the fastpath scenario against the machine limit; drop --scenario');
    if (cmd.getOptionValueSource('backend') === 'cli') throw new UsageError('--compare runs both backends (wasm, then reference); drop --backend');
    if (cmd.getOptionValueSource('packets') === 'cli') throw new UsageError('--compare uses each backend\'s own batch size; drop --packets');
    const r = await runCompare({ ...common, rounds: opts.rounds, repeats: opts.repeats, limitPath: opts.limit ?? defaultLimitPath() });
    console.log(opts.json ? JSON.stringify(r) : formatCompare(r));
    return;
  }
  if (cmd.getOptionValueSource('limit') === 'cli') throw new UsageError('--limit is only used with --compare');
  const r = await runFastpath({ ...common, scenario: opts.scenario as Scenario, design: opts.design, backend: opts.backend, rounds: opts.rounds, packets: opts.packets, batch: opts.batch });
  console.log(opts.json ? JSON.stringify(r) : formatFastpath(r));
}

const colorErr = process.stderr.isTTY === true && !process.env.NO_COLOR;
const paintErr = (style: Style, text: string) => (colorErr ? styleText(style, text) : text);

// ---------------------------------------------------------------- main

function version(): string {
  try { return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version; } catch { return '0.0.0'; }
}

const cli = new Command()
  .name('dpemu')
  .description('Kubernetes dataplane emulator: an eBPF-style packet pipeline in WebAssembly')
  .version(version())
  .showHelpAfterError();

cli.command('demo')
  .description('run the built-in example cluster through a short scripted scenario and print what happened to each packet')
  .option('--json', 'one JSON object per packet instead of the table')
  .addOption(new Option('--backend <kind>', 'dataplane implementation').choices(['wasm', 'wasm-debug', 'reference']).default('wasm'))
  .addOption(new Option('--design <name>', 'dataplane design: the same packets through iptables, ipvs or nftables structures').choices(DESIGN_NAMES).default('ebpf'))
  .action((opts) => demo(opts));

const wasmDefaults = fastpathDefaults('wasm'), refDefaults = fastpathDefaults('reference');
cli.command('bench')
  .description('alone (or --all): the whole suite (micro benchmarks, control plane, the design sweep); with options: one run (a scenario, --compare, --sweep, --micro, --control-plane or --policy)')
  .option('--all', 'the whole suite: --micro, --control-plane, --growth, then --sweep (takes --quick, --repeats, --designs, --out, --limit, --json)')
  .option('--scenario <name>', `scenario (${SCENARIOS.join(', ')})`, 'fastpath')
  .option('--services <n>', 'ClusterIP services', integer('--services'), FASTPATH_DEFAULTS.services)
  .option('--backends <n>', 'backends per service', integer('--backends'), FASTPATH_DEFAULTS.backends)
  .option('--flows <n>', 'established TCP flows', integer('--flows'), FASTPATH_DEFAULTS.flows)
  .addOption(new Option('--backend <kind>', 'dataplane to measure').choices(['wasm', 'reference']).default('wasm'))
  .addOption(new Option('--design <name>', 'dataplane design; services get its default algorithm').choices(DESIGN_NAMES).default('ebpf'))
  .option('--rounds <n>', `timed rounds (default ${wasmDefaults.rounds} for wasm, ${refDefaults.rounds} for reference)`, integer('--rounds'))
  .option('--packets <n>', `packets per round (default ${wasmDefaults.packets} for wasm, ${refDefaults.packets} for reference)`, integer('--packets'))
  .option('--batch <n>', 'packets per process() call, each batch filled just before it is timed (default 65536)', integer('--batch'))
  .option('--seed <n>', 'seed of the cluster, the dataplane and the packet draw', integer('--seed'), FASTPATH_DEFAULTS.seed)
  .option('--json', 'print exactly one JSON line')
  .option('--compare', 'run the limit (if present), wasm and reference, interleaved --repeats times, and compare the medians against the targets')
  .option('--repeats <n>', 'with --compare: interleaved runs of each (default 3); with --sweep: runs per point (default 3, --quick 1)', integer('--repeats'))
  .option('--limit <path>', 'machine-limit script for --compare and --sweep, run as `bash PATH FLOWS` (default: $DPEMU_LIMIT; without it the limit is skipped)')
  .option('--sweep', 'every design x scenario x services (100..100000) x flows (10000..1000000), --repeats runs each (default 3), the limit per flows value; writes sweep.json, sweep.csv, sweep.html')
  .option('--designs <list>', 'with --sweep and --growth: comma-separated designs (default: all; those the build refuses are skipped with a note)')
  .option('--growth', 'new-flow cost at 100, 1,000, 10,000 and 100,000 services per design, every cluster in one process with their rounds taking turns (the hash designs should stay within 1.5x from 100 to 100,000)')
  .option('--policy', 'policy costs: compile time, map entries and per-packet cost of --policies NetworkPolicies (and a few admin policies) over --pods pods, against the same cluster and traffic without policies')
  .option('--pods <n>', 'with --policy: pods (default 10000)', integer('--pods'))
  .option('--policies <n>', 'with --policy: NetworkPolicies (default 1000)', integer('--policies'))
  .option('--api', 'the library API against its yardsticks, in one run: send() and trace() against JSON.parse + JSON.stringify of the same packets, the zero-copy process() against the core\'s fast path (1,000 services x 10 endpoints, 100,000 flows by default)')
  .option('--micro', 'tinybench micro benchmarks of single stages (hash lookup hot and cold, conntrack hit, service lookup, policy lookup, NAT rewrite in the core; Maglev table builds)')
  .option('--control-plane', 'control-plane costs: compile --services Services with --endpoints endpoints from objects to maps, and one endpoint change through the runtime')
  .option('--endpoints <n>', `with --control-plane: endpoints in all (default ${CONTROL_PLANE_DEFAULTS.endpoints})`, integer('--endpoints'))
  .option('--changes <n>', `with --control-plane: endpoint changes timed (default ${CONTROL_PLANE_DEFAULTS.changes})`, integer('--changes'))
  .option('--quick', 'tiny sizes: with --sweep (services 10, 100; flows 1000, 10000; one run), --micro, --control-plane (100 services, 1000 endpoints)')
  .option('--out <dir>', 'with --sweep: directory for the results (default: bench/results/ in the package root)')
  .option('-q, --quiet', 'no progress lines on stderr')
  .action((opts: BenchOpts, cmd: Command) => bench(opts, cmd));

// ---------------------------------------------------------------- trace, check

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Load the manifests; a ManifestError (or an unreadable path) ends the command with status 1. */
function loadClusterOrExit(paths: string[]): ReturnType<typeof loadFiles> | undefined {
  try {
    return loadFiles(paths);
  } catch (e) {
    fail(e);
    return undefined;
  }
}

function formatDiagnostic(d: Diagnostic): string {
  const sev = d.severity === 'error' ? paint('red', 'error') : paint('yellow', 'warning');
  const where = d.source && !d.message.includes(formatSource(d.source)) ? ` [${formatSource(d.source)}]` : '';
  return `${sev} ${paint('dim', `[${d.code}]`)} ${d.message}${where}`;
}

interface TraceOpts { cluster: string[]; packets?: string; backend: 'wasm' | 'reference'; design: Design; algo?: Algorithm; masqueradeAll?: boolean; seed: number; output: 'json' | 'hubble' }

async function trace(opts: TraceOpts): Promise<void> {
  // Read once: the files are loaded by the emulator itself (its maps sized for them); its warnings printed.
  let files;
  try {
    files = readManifestFiles(opts.cluster);
  } catch (e) {
    return fail(e);
  }
  let emu;
  try {
    emu = await createEmulator({
      backend: opts.backend, design: opts.design, algo: opts.algo, masqueradeAll: opts.masqueradeAll ?? false, seed: opts.seed,
      cluster: { files },
    });
  } catch (e) {
    return fail(e);
  }
  for (const w of emu.warnings()) process.stderr.write(`dpemu: ${w.severity}: ${w.message}\n`);
  const input = opts.packets === undefined || opts.packets === '-' ? process.stdin : createReadStream(opts.packets);
  // {"apply": ...} and {"delete": ...} lines change the cluster (paths relative to the current directory).
  const write = (line: string) => process.stdout.write(line + '\n');
  const drain = () => new Promise<void>((ok) => process.stdout.once('drain', ok));
  // Hubble's flows have no form for an error: those go to stderr, one line each.
  const { errors } = opts.output === 'hubble'
    ? await traceStreamHubble(emu, input, write, { drain, onError: (e) => process.stderr.write(`dpemu: ${e.error}\n`) })
    : await traceStream(emu, input, write, { drain });
  if (errors > 0) process.stderr.write(`dpemu: ${errors} input line${errors === 1 ? '' : 's'} could not be traced${opts.output === 'hubble' ? '' : ' (see the "error" records)'}\n`);
}

/** A user's mistake (bad manifest, unreadable path, bad option): one line on stderr and exit status 1. */
function fail(e: unknown): void {
  const err = e as Error & { code?: string };
  process.stderr.write(`dpemu: ${err instanceof DpemuError || err.code === 'ENOENT' || err instanceof RangeError ? err.message : err.stack ?? err}\n`);
  process.exitCode = 1;
}

function check(opts: { cluster: string[]; json?: boolean }): void {
  const loaded = loadClusterOrExit(opts.cluster);
  if (!loaded) return;
  const diags = [...loaded.warnings, ...checkCluster(loaded.model)];
  if (opts.json) {
    for (const d of diags) console.log(JSON.stringify(d));
  } else {
    for (const d of diags) console.log(formatDiagnostic(d));
    const errors = diags.filter((d) => d.severity === 'error').length;
    const m = loaded.model;
    const np = m.policies?.networkPolicies.length ?? 0, ap = m.policies?.adminPolicies.length ?? 0;
    const policies = np + ap ? `, ${np} NetworkPolicies, ${ap} admin policies` : '';
    console.log(`${diags.length ? '\n' : ''}${m.nodes.length} nodes, ${m.pods.length} pods, ${m.services.length} services, ${m.endpointSlices.length} EndpointSlices${policies}: ` +
      `${errors} error${errors === 1 ? '' : 's'}, ${diags.length - errors} warning${diags.length - errors === 1 ? '' : 's'}`);
  }
  if (hasErrors(diags)) process.exitCode = 1;
}

cli.command('trace')
  .description('trace packets (JSON lines) through a cluster loaded from Kubernetes manifests, programmed as kube-proxy programs every node (in the --design chosen); one JSON record per packet. ' +
    'Lines {"apply": path(s)} and {"delete": path | {kind, namespace, name}} (optionally with "t") change the cluster mid-stream, reprogramming only what changed; each gives one {"line", "t", "applied"} record')
  .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
  .option('--packets <file>', 'JSON lines {src, dst, sport, dport, proto, flags, node, t} or {apply|delete, t} (default: stdin)')
  .addOption(new Option('--backend <kind>', 'dataplane implementation').choices(['wasm', 'reference']).default('wasm'))
  .addOption(new Option('--design <name>', 'dataplane design (same verdicts; different structures and endpoint choice)').choices(DESIGN_NAMES).default('ebpf'))
  .addOption(new Option('--algo <name>', "endpoint selection (default: the design's, random; ipvs: rr)").choices(ALGO_NAMES))
  .option('--masquerade-all', 'kube-proxy --masquerade-all: SNAT all traffic to cluster IPs')
  .option('--seed <n>', 'seed of the random endpoint choice', integer('--seed'), 1)
  .addOption(new Option('--output <format>', 'json: dpemu\'s records; hubble: flows as `hubble observe -o json` prints them (errors on stderr)').choices(['json', 'hubble']).default('json'))
  .action((opts: TraceOpts) => trace(opts));

cli.command('check')
  .description('load Kubernetes manifests and report what would make Services drop or reject traffic; exit status 1 when there are errors')
  .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
  .option('--json', 'one JSON diagnostic per line')
  .action((opts: { cluster: string[]; json?: boolean }) => check(opts));

interface DnsOpts { cluster: string[]; queries?: string; clusterDomain: string; ttl: number; pods: 'insecure' | 'verified' | 'disabled'; endpointPodNames?: boolean }

cli.command('dns')
  .description('answer DNS queries (JSON lines {name, type, client}) as the cluster\'s CoreDNS would; one JSON record per query. ' +
    'With "client" (a pod address) the name goes through that pod\'s resolv.conf search list and "tried" lists the names asked')
  .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
  .option('--queries <file>', 'JSON lines {name, type, client} (default: stdin)')
  .option('--cluster-domain <domain>', 'the cluster domain', 'cluster.local')
  .option('--ttl <n>', 'TTL of the answers', integer('--ttl'), 30)
  .addOption(new Option('--pods <mode>', 'pod A records (CoreDNS "pods")').choices(['insecure', 'verified', 'disabled']).default('insecure'))
  .option('--endpoint-pod-names', 'name endpoints without hostname by their pod (CoreDNS "endpoint_pod_names")')
  .action(async (opts: DnsOpts) => {
    const loaded = loadClusterOrExit(opts.cluster);
    if (!loaded) return;
    for (const w of loaded.warnings) process.stderr.write(`dpemu: ${w.severity}: ${w.message}\n`);
    let closed = false;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') closed = true; else throw e; });
    const input = opts.queries === undefined || opts.queries === '-' ? process.stdin : createReadStream(opts.queries);
    const { errors } = await dnsStream(loaded.model, { clusterDomain: opts.clusterDomain, ttl: opts.ttl, pods: opts.pods, endpointPodNames: opts.endpointPodNames ?? false },
      input, (line) => { if (closed) return false; process.stdout.write(line + '\n'); return !closed; });
    if (closed) { process.exitCode = 0; return; }
    if (errors > 0) process.stderr.write(`dpemu: ${errors} query line${errors === 1 ? '' : 's'} could not be answered (see the "error" records)\n`);
  });

registerExport(cli, collect);

cli.command('get')
  .description('list pods, services or nodes as loaded (allocated pod IPs, cluster IPs, node ports, load-balancer addresses), in the shape kubectl get prints')
  .argument('<kind>', 'pods, services or nodes (kubectl\'s singular and short names too: pod, po, svc, no)')
  .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
  .option('-n, --namespace <ns>', 'only this namespace (default: all namespaces)')
  .addOption(new Option('-o, --output <format>', 'wide (more columns) or json').choices(['wide', 'json']))
  .action((word: string, opts: { cluster: string[]; namespace?: string; output?: 'wide' | 'json' }) => {
    const kind = getKind(word);
    const loaded = loadClusterOrExit(opts.cluster);
    if (!loaded) return;
    console.log(getListing(loaded.model, kind, { namespace: opts.namespace, output: opts.output }));
  });

// Like a Unix tool: output into a pipe whose reader has gone (`dpemu trace ... | head`) ends the command
// quietly; Ctrl-C too.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
}
process.on('SIGINT', () => process.exit(130));

try {
  await cli.parseAsync(process.argv);
} catch (e) {
  const err = e as Error;
  // Errors about the input (names and sizes) are one line; anything else is a bug and keeps its stack.
  const known = err instanceof DpemuError || err instanceof RangeError;
  process.stderr.write(`dpemu: ${known ? err.message : err.stack ?? err}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
