#!/usr/bin/env node
// dpemu command line: `demo` (the built-in example, what `npm start` runs, src/demo.ts),
// `bench` (throughput scenarios, src/bench/command.ts), `trace` (packets through a cluster
// loaded from Kubernetes manifests, src/trace.ts) and `check` (what in the
// manifests would make Services drop or reject traffic, src/k8s/check.ts).
// Commander only parses arguments; the work is in those modules.

import { registerRun } from './run/register.js';
import { ClusterCliOptions, clusterOptions, loadOptionsOf } from './cluster-options.js';
import { setFlagsFromString } from 'node:v8';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option, InvalidArgumentError } from 'commander';
import type { BenchOpts } from './bench/command.js';
import { fastpathDefaults, FASTPATH_DEFAULTS, SCENARIOS, CONTROL_PLANE_DEFAULTS } from './bench/defaults.js';
import { packageRoot } from './package-root.js';
import { paint } from './style.js';
import { createReadStream } from 'node:fs';
import { ALGO_NAMES, Algorithm, DESIGN_NAMES, Design } from './dataplane.js';
import type { Diagnostic } from './k8s/model.js';
import type { LoadResult } from './k8s/load.js';
import { formatSource } from './k8s/model.js';
import { UsageError } from './errors.js';
import { createEmulator, DpemuError } from './index.node.js';
import { readManifestFiles } from './node-api.js';
import { streamTrace } from './trace.js';
import { internalsOf } from './api/emulator.js';
import { LineWriter } from './output/line-writer.js';

// A larger young generation for the short-lived objects of every traced packet (JSON values, records):
// measured with `bench --api`-sized traffic, it halves the time `trace` spends in garbage collection.
setFlagsFromString('--max-semi-space-size=64');
import { registerExport } from './export/register.js';
import { getKind, getListing } from './get.js';
import { dnsStream } from './dns/cli.js';

// ---------------------------------------------------------------- option parsers

function integer(name: string) {
  return (v: string): number => {
    const x = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return x;
  };
}

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
  .action(async (opts) => (await import('./demo.js')).demo(opts));

const wasmDefaults = fastpathDefaults('wasm'), refDefaults = fastpathDefaults('reference');
cli.command('bench')
  .description('alone (or --all): the whole suite (micro benchmarks, control plane, the design sweep); with options: one run (a scenario, --compare, --sweep, --micro, --control-plane or --policy)')
  .option('--all', 'the whole suite: --micro, --control-plane, --growth, then --sweep (takes --quick, --repeats, --designs, --out, --limit, --json)')
  .option('--scenario <name>', `scenario (${SCENARIOS.join(', ')})`, 'fastpath')
  .option('--services <n>', 'ClusterIP services', integer('--services'), FASTPATH_DEFAULTS.services)
  .option('--backends <n>', 'backends per service', integer('--backends'), FASTPATH_DEFAULTS.backends)
  .option('--flows <n>', 'established TCP flows', integer('--flows'), FASTPATH_DEFAULTS.flows)
  .option('--nodes <n>', 'nodes the pods are spread over (default 1: each packet is processed on one node; with more, a flow to a backend on another node is processed on both)', integer('--nodes'))
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
  .option('--workers <n>', 'worker threads sharing each batch, the nodes spread over them (a scenario run; with --scaling: compared with one, default 2)', integer('--workers'))
  .option('--scaling', 'fastpath and newflow on one worker and on --workers (default 2), 31 short rounds each (262,144 fastpath / 65,536 newflow packets unless --rounds/--packets say otherwise) taking turns, flows spread over --nodes (default 2): the medians, their ratio, and the cores\' distance measured meanwhile (a cache line\'s round trip between two threads), which the ratio depends on')
  .option('--api', 'the library API against its yardsticks, in one run: send() and trace() against JSON.parse + JSON.stringify of the same packets, the zero-copy process() against the core\'s fast path (1,000 services x 10 endpoints, 100,000 flows by default)')
  .option('--micro', 'tinybench micro benchmarks of single stages (hash lookup hot and cold, conntrack hit, service lookup, policy lookup, NAT rewrite in the core; Maglev table builds)')
  .option('--control-plane', 'control-plane costs: compile --services Services with --endpoints endpoints from objects to maps, and one endpoint change through the runtime')
  .option('--endpoints <n>', `with --control-plane: endpoints in all (default ${CONTROL_PLANE_DEFAULTS.endpoints})`, integer('--endpoints'))
  .option('--changes <n>', `with --control-plane: endpoint changes timed (default ${CONTROL_PLANE_DEFAULTS.changes})`, integer('--changes'))
  .option('--quick', 'tiny sizes: with --sweep (services 10, 100; flows 1000, 10000; one run), --micro, --control-plane (100 services, 1000 endpoints)')
  .option('--out <dir>', 'with --sweep: directory for the results (default: bench/results/ in the package root)')
  .option('-q, --quiet', 'no progress lines on stderr')
  .action(async (opts: BenchOpts, cmd: Command) => (await import('./bench/command.js')).bench(opts, cmd));

// ---------------------------------------------------------------- trace, check

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Load the manifests; a ManifestError (or an unreadable path) ends the command with status 1. */
async function loadClusterOrExit(opts: ClusterCliOptions): Promise<LoadResult | undefined> {
  try {
    return (await import('./k8s/files.js')).loadFiles(opts.cluster, loadOptionsOf(opts), opts.recursive ?? false);
  } catch (e) {
    fail(e);
    return undefined;
  }
}

function formatDiagnostic(d: Diagnostic): string {
  const sev = d.severity === 'error' ? paint('red', 'error') : d.severity === 'info' ? paint('cyan', 'note') : paint('yellow', 'warning');
  const where = d.source && !d.message.includes(formatSource(d.source)) ? ` [${formatSource(d.source)}]` : '';
  return `${sev} ${paint('dim', `[${d.code}]`)} ${d.message}${where}`;
}

interface TraceOpts extends ClusterCliOptions { packets?: string; backend: 'wasm' | 'reference'; design: Design; algo?: Algorithm; masqueradeAll?: boolean; seed: number; output: 'json' | 'hubble'; workers: number }

async function trace(opts: TraceOpts): Promise<void> {
  // Read once: the files are loaded by the emulator itself (its maps sized for them); its warnings printed.
  let files;
  try {
    files = readManifestFiles(opts.cluster, { recursive: opts.recursive });
  } catch (e) {
    return fail(e);
  }
  let emu;
  try {
    emu = await createEmulator({
      backend: opts.backend, design: opts.design, algo: opts.algo, masqueradeAll: opts.masqueradeAll ?? false, seed: opts.seed,
      cluster: { files }, workers: opts.workers, ...loadOptionsOf(opts),
    });
  } catch (e) {
    return fail(e);
  }
  for (const w of emu.warnings()) if (w.severity !== 'info') process.stderr.write(`dpemu: ${w.severity}: ${w.message}\n`);
  const input = opts.packets === undefined || opts.packets === '-' ? process.stdin : createReadStream(opts.packets);
  // {"apply": ...} and {"delete": ...} lines change the cluster (paths relative to the current directory).
  const writer = new LineWriter(process.stdout); // records in blocks, written as bytes (src/output/line-writer.ts)
  const { write, flush } = writer;
  const drain = () => new Promise<void>((ok) => process.stdout.once('drain', ok));
  const { traceJsonInto } = internalsOf(emu);
  // Hubble's flows have no form for an error: those go to stderr, one line each.
  const { errors } = opts.output === 'hubble'
    ? await (await import('./output/hubble-stream.js')).traceStreamHubble(emu, input, write, { drain, onError: (e) => process.stderr.write(`dpemu: ${e.error}\n`) })
    : await streamTrace(input, write, (lines, stats) => { traceJsonInto(lines, writer, { readFiles: readManifestFiles }, stats); return []; },
      drain, () => !writer.ready);
  flush();
  await emu.close();
  if (errors > 0) process.stderr.write(`dpemu: ${errors} input line${errors === 1 ? '' : 's'} could not be traced${opts.output === 'hubble' ? '' : ' (see the "error" records)'}\n`);
}

/** A user's mistake (bad manifest, unreadable path, bad option): one line on stderr and exit status 1. */
function fail(e: unknown): void {
  const err = e as Error & { code?: string };
  process.stderr.write(`dpemu: ${err instanceof DpemuError || err.code === 'ENOENT' || err instanceof RangeError ? err.message : err.stack ?? err}\n`);
  process.exitCode = 1;
}

async function check(opts: ClusterCliOptions & { json?: boolean }): Promise<void> {
  const loaded = await loadClusterOrExit(opts);
  if (!loaded) return;
  const { checkCluster, hasErrors } = await import('./k8s/check.js');
  const diags = [...loaded.notes, ...loaded.warnings, ...checkCluster(loaded.model)];
  if (opts.json) {
    for (const d of diags) console.log(JSON.stringify(d));
  } else {
    for (const d of diags) console.log(formatDiagnostic(d));
    const errors = diags.filter((d) => d.severity === 'error').length;
    const warns = diags.filter((d) => d.severity === 'warning').length;
    const m = loaded.model;
    const np = m.policies?.networkPolicies.length ?? 0, ap = m.policies?.adminPolicies.length ?? 0;
    const policies = np + ap ? `, ${np} NetworkPolicies, ${ap} admin policies` : '';
    console.log(`${diags.length ? '\n' : ''}${m.nodes.length} nodes, ${m.pods.length} pods, ${m.services.length} services, ${m.endpointSlices.length} EndpointSlices${policies}: ` +
      `${errors} error${errors === 1 ? '' : 's'}, ${warns} warning${warns === 1 ? '' : 's'}${loaded.notes.length ? `, ${loaded.notes.length} note${loaded.notes.length === 1 ? '' : 's'}` : ''}`);
  }
  if (hasErrors(diags)) process.exitCode = 1;
}

clusterOptions(cli.command('trace'))
  .description('trace packets (JSON lines) through a cluster loaded from Kubernetes manifests, programmed as kube-proxy programs every node (in the --design chosen); one JSON record per packet. ' +
    'Lines {"apply": path(s)} and {"delete": path | {kind, namespace, name}} (optionally with "t") change the cluster mid-stream, reprogramming only what changed; ' +
    '{"fail": node} takes a node down (its conntrack lost, its pods not ready), {"restart": node} brings it back ("agent": true: only its proxy agent restarts); each gives one {"line", "t", "applied"} record')
  .option('--packets <file>', 'JSON lines {src, dst, sport, dport, proto, flags, node, t} or {apply|delete|fail|restart, t} (default: stdin)')
  .addOption(new Option('--backend <kind>', 'dataplane implementation').choices(['wasm', 'reference']).default('wasm'))
  .addOption(new Option('--design <name>', 'dataplane design (same verdicts; different structures and endpoint choice)').choices(DESIGN_NAMES).default('ebpf'))
  .addOption(new Option('--algo <name>', "endpoint selection (default: the design's, random; ipvs: rr)").choices(ALGO_NAMES))
  .option('--masquerade-all', 'kube-proxy --masquerade-all: SNAT all traffic to cluster IPs')
  .option('--seed <n>', 'seed of the random endpoint choice', integer('--seed'), 1)
  .addOption(new Option('--output <format>', 'json: dpemu\'s records; hubble: flows as `hubble observe -o json` prints them (errors on stderr)').choices(['json', 'hubble']).default('json'))
  .option('--workers <n>', 'worker threads sharing the packets, nodes spread over them (the same records as one; a cluster of several nodes shares out over 2)', integer('--workers'), 1)
  .action((opts: TraceOpts) => trace(opts));

clusterOptions(cli.command('check'))
  .description('load Kubernetes manifests and report what would make Services drop or reject traffic, and the defaults applied; exit status 1 when there are errors')
  .option('--json', 'one JSON diagnostic per line')
  .action(async (opts: ClusterCliOptions & { json?: boolean }) => check(opts));

interface DnsOpts extends ClusterCliOptions { queries?: string; clusterDomain: string; ttl: number; pods: 'insecure' | 'verified' | 'disabled'; endpointPodNames?: boolean }

clusterOptions(cli.command('dns'))
  .description('answer DNS queries (JSON lines {name, type, client}) as the cluster\'s CoreDNS would; one JSON record per query. ' +
    'With "client" (a pod address) the name goes through that pod\'s resolv.conf search list and "tried" lists the names asked')
  .option('--queries <file>', 'JSON lines {name, type, client} (default: stdin)')
  .option('--cluster-domain <domain>', 'the cluster domain', 'cluster.local')
  .option('--ttl <n>', 'TTL of the answers', integer('--ttl'), 30)
  .addOption(new Option('--pods <mode>', 'pod A records (CoreDNS "pods")').choices(['insecure', 'verified', 'disabled']).default('insecure'))
  .option('--endpoint-pod-names', 'name endpoints without hostname by their pod (CoreDNS "endpoint_pod_names")')
  .action(async (opts: DnsOpts) => {
    const loaded = await loadClusterOrExit(opts);
    if (!loaded) return;
    for (const w of loaded.warnings) if (w.severity !== 'info') process.stderr.write(`dpemu: ${w.severity}: ${w.message}\n`);
    let closed = false;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') closed = true; else throw e; });
    const input = opts.queries === undefined || opts.queries === '-' ? process.stdin : createReadStream(opts.queries);
    const { errors } = await dnsStream(loaded.model, { clusterDomain: opts.clusterDomain, ttl: opts.ttl, pods: opts.pods, endpointPodNames: opts.endpointPodNames ?? false },
      input, (line) => { if (closed) return false; process.stdout.write(line + '\n'); return !closed; });
    if (closed) { process.exitCode = 0; return; }
    if (errors > 0) process.stderr.write(`dpemu: ${errors} query line${errors === 1 ? '' : 's'} could not be answered (see the "error" records)\n`);
  });

registerExport(cli, collect);
registerRun(cli);

clusterOptions(cli.command('get'))
  .description('list pods, services or nodes as loaded (allocated pod IPs, cluster IPs, node ports, load-balancer addresses), in the shape kubectl get prints')
  .argument('<kind>', 'pods, services or nodes (kubectl\'s singular and short names too: pod, po, svc, no)')
  .option('-n, --namespace <ns>', 'only this namespace (default: all namespaces)')
  .addOption(new Option('-o, --output <format>', 'wide (more columns) or json').choices(['wide', 'json']))
  .action(async (word: string, opts: ClusterCliOptions & { namespace?: string; output?: 'wide' | 'json' }) => {
    const kind = getKind(word);
    const loaded = await loadClusterOrExit(opts);
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
