// `dpemu run`: traffic over a cluster, and what happened to it. With no arguments it runs the built-in
// example (examples/payments: a payments application under default-deny policies, DNS, a canary, a headless
// StatefulSet, load-balancer and node-port clients, churn); `npm start` is that.
//
//   dpemu run [--cluster DIR ...] [--traffic FILE] [--pcap-in F] [--pcap-out F] [--json] [--html F]
//
// With --pcap-in and no --traffic, the capture is the traffic. The summary goes to stdout (a table, or
// --json); a progress bar to stderr when it is a terminal and the run takes more than a second.

import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { createEmulator } from '../index.node.js';
import { readManifestFiles } from '../node-api.js';
import { internalsOf } from '../api/emulator.js';
import type { Emulator, ManifestText } from '../api/types.js';
import type { Design, Algorithm } from '../dataplane.js';
import { InputError, UsageError } from '../errors.js';
import { type LoadResult, type ManifestFile, loadManifests } from '../k8s/load.js';
import { clusterDnsIP } from '../dns/stub.js';
import { ClusterCliOptions, loadOptionsOf } from '../cluster-options.js';
import { TrafficSpec, parseTrafficSpec } from './spec.js';
import { RunResult, runTraffic } from './run.js';
import { coreDnsManifest } from './coredns.js';
import { defaultTrafficSpec } from './default-traffic.js';
import { runCapture } from '../pcap/run.js';
import { PcapWriter } from '../pcap/write.js';
import { packageRoot } from '../package-root.js';
import { RunCollector, RunProgress, hubbleConverter, renderHtml, renderJson, renderTerminal, runFinalOf, useColor } from '../report/index.js';
import type { PacketBatch } from '../packet.js';
import type { TrafficSummary } from '../report/types.js';

export interface RunCliOptions extends ClusterCliOptions {
  traffic?: string; pcapIn?: string; pcapOut?: string; sidecar?: string;
  json?: boolean; html?: string; design: Design; backend: 'wasm' | 'reference'; algo?: Algorithm;
  seed?: number; duration?: number; progress?: boolean; flows?: string; output?: 'json' | 'hubble'; workers?: number;
}

/**
 * Conntrack capacity for a run: every connection and DNS lookup of the run may still hold its entry at the
 * end (closed TCP flows linger 10 s, UDP 60 s), with room to spare; at least the default 65,536.
 */
export function flowsFor(spec: TrafficSpec): number {
  const flows = spec.traffic.reduce((n, e) => n + e.rate * spec.duration * 2, 0);
  return Math.min(1 << 24, Math.max(65536, 2 ** Math.ceil(Math.log2(flows * 1.5 + 1))));
}

/** A path as the user would type it from here. */
const shown = (p: string) => { const r = relative(process.cwd(), p); return r.startsWith('..') ? p : r; };

/** The built-in example's files. */
export function exampleCluster(): { cluster: string; traffic: string } {
  const root = join(packageRoot(), 'examples', 'payments');
  return { cluster: join(root, 'cluster'), traffic: join(root, 'traffic.yaml') };
}

/**
 * The cluster's files, with CoreDNS as kubeadm deploys it when they have no kube-dns Service, and what they
 * load to (loaded once more only when CoreDNS was added: a large cluster's load is the run's longest step).
 */
export function withClusterDns(files: ManifestText[], opts: ClusterCliOptions, notes: string[]): { files: ManifestText[]; loaded: LoadResult } {
  const loaded = loadManifests(files, loadOptionsOf(opts));
  if (clusterDnsIP(loaded.model) !== undefined) return { files, loaded };
  notes.push('no kube-system/kube-dns Service: CoreDNS added as kubeadm deploys it (kube-dns at the tenth address of the service CIDR, two coredns pods)');
  const withDns = [...files, { path: '<built-in coredns.yaml>', text: coreDnsManifest() }];
  return { files: withDns, loaded: loadManifests(withDns, loadOptionsOf(opts)) };
}


export async function runCommand(opts: RunCliOptions): Promise<void> {
  const notes: string[] = [];
  let clusterPaths = opts.cluster;
  let trafficPath = opts.traffic;
  if (!clusterPaths && !trafficPath && !opts.pcapIn) {
    const ex = exampleCluster();
    clusterPaths = [ex.cluster];
    trafficPath = ex.traffic;
    notes.push(`the built-in example: --cluster ${shown(ex.cluster)} --traffic ${shown(ex.traffic)}`);
  }
  if (!clusterPaths) throw new UsageError('--cluster is required with --traffic or --pcap-in (or give neither for the built-in example)');
  const useDefaultTraffic = !trafficPath && !opts.pcapIn;
  const { files, loaded } = withClusterDns(readManifestFiles(clusterPaths, { recursive: opts.recursive }), opts, notes);
  for (const n of loaded.notes) notes.push(n.message);
  let spec: TrafficSpec | undefined;
  if (trafficPath) {
    try {
      spec = parseTrafficSpec(readFileSync(trafficPath, 'utf8'), trafficPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`${trafficPath}: no such file`);
      throw e;
    }
  } else if (useDefaultTraffic) {
    try {
      const d = defaultTrafficSpec(loaded.model);
      spec = d.spec;
      notes.push(d.note);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
  }
  if (spec) {
    if (opts.seed !== undefined) spec.seed = opts.seed;
    if (opts.duration !== undefined) spec.duration = opts.duration;
  }
  const emu = await createEmulator({
    design: opts.design, backend: opts.backend, algo: opts.algo, seed: opts.seed ?? 1, cluster: { files }, flows: spec ? flowsFor(spec) : undefined,
    workers: opts.workers === undefined ? undefined : Math.trunc(opts.workers), ...loadOptionsOf(opts),
  });
  try {
    await runOn(emu, opts, spec, files, clusterPaths, trafficPath, notes);
  } finally {
    await emu.close();
  }
}

async function runOn(emu: Emulator, opts: RunCliOptions, spec: TrafficSpec | undefined, files: ManifestFile[], clusterPaths: string[],
  trafficPath: string | undefined, notes: string[]): Promise<void> {
  const { runtime } = internalsOf(emu);

  if (!spec) return replayCapture(emu, opts, notes);
  const base = trafficPath ? dirname(resolvePath(trafficPath)) : process.cwd();
  const writer = opts.pcapOut ? new PcapWriter({ serviceName: (id) => runtime.compiled.servicesByIndex.get(id)?.label }, opts.sidecar !== undefined) : undefined;
  const flows = opts.flows ? flowWriter(emu, opts.flows, opts.output ?? 'json') : undefined;
  const collector = new RunCollector();
  collector.noteCluster(emu.services(), emu.backends());
  const progress = opts.progress !== false ? new RunProgress({ total: Math.round(spec.duration * 1000), unit: 'ms of traffic' }) : undefined;
  const result = await runTraffic(emu, spec, {
    clusterFiles: files,
    readFiles: (paths) => readManifestFiles(paths.map((p) => resolvePath(base, p))),
    onBatch: (bytes, n, batch, nowMs) => {
      collector.addProcessed(bytes, 0, n);
      collector.sample(emu.now, emu.conntrackCount());
      writer?.add(batch, n, nowMs);
      flows?.add(batch, n);
    },
    onDns: (e) => collector.addDns(e),
    onChange: () => { collector.noteCluster(emu.services(), emu.backends(), emu.now); flows?.changed(); },
    onProgress: (done, total) => progress?.update(done, total),
  });
  progress?.stop();
  flows?.close();
  if (writer) {
    writeFileSync(opts.pcapOut!, writer.bytes());
    if (opts.sidecar) writeFileSync(opts.sidecar, writer.sidecarText());
  }
  const report = collector.finish(runFinalOf(emu, {
    wallMs: result.wallMs, generated: result.packets, virtualSeconds: result.virtualMs / 1000, seed: spec.seed,
    inputs: { cluster: clusterPaths.map(shown).join(', '), traffic: trafficPath ? shown(trafficPath) : 'default (no --traffic)' },
  }));
  report.traffic = trafficSummary(result, notes);
  if (opts.html) writeFileSync(opts.html, renderHtml(report));
  process.stdout.write(opts.json ? renderJson(report) : renderTerminal(report, { color: useColor(process.stdout) }));
}

/**
 * Per-packet records of a run, written as they come (an object per packet: only when asked for). The file is
 * written synchronously in blocks, so a run's memory does not grow with its length.
 */
function flowWriter(emu: Emulator, path: string, format: 'json' | 'hubble') {
  const { tracer, runtime } = internalsOf(emu);
  const fd = openSync(path, 'w');
  let hubble = format === 'hubble' ? hubbleConverter(emu) : undefined;
  let names = new Map([...runtime.compiled.nodeIdByName].map(([n, id]) => [id, n]));
  let buf: string[] = [];
  const flush = () => { if (buf.length) { writeSync(fd, buf.join('\n') + '\n'); buf = []; } };
  return {
    add(batch: PacketBatch, n: number) {
      for (let i = 0; i < n; i++) {
        const r = batch.get(i);
        const rec = tracer.recordOf(r, names.get(r.node) ?? String(r.node));
        buf.push(hubble ? hubble.json(rec) : JSON.stringify(rec));
      }
      if (buf.length >= 4096) flush();
    },
    changed() {
      names = new Map([...runtime.compiled.nodeIdByName].map(([nm, id]) => [id, nm]));
      if (hubble) hubble = hubbleConverter(emu);
    },
    close() { flush(); closeSync(fd); },
  };
}

/** The run's own figures, by traffic entry, for the report. */
function trafficSummary(r: RunResult, notes: string[]): TrafficSummary {
  return {
    notes,
    entries: r.entries.map((e) => ({
      from: e.from, to: e.to, proto: e.proto, rate: e.rate,
      opened: e.stats.opened, completed: e.stats.completed, failed: e.stats.failed, failedAt: { ...e.stats.failedAt },
      dns: { lookups: e.stats.dnsLookups, queries: e.stats.dnsQueries, failed: e.stats.dnsFailed, blocked: e.stats.dnsBlocked },
      packets: e.stats.packets, retransmissions: e.stats.retransmissions,
      ...(Object.keys(e.stats.http).length ? { http: { ...e.stats.http } } : {}),
    })),
    changes: r.changes.map((c) => ({ at: c.at, what: c.what })),
  };
}

/** A capture as the traffic: every frame through the dataplane at its capture time. */
function replayCapture(emu: Emulator, opts: RunCliOptions, notes: string[]): void {
  const { dp, runtime } = internalsOf(emu);
  if (!existsSync(opts.pcapIn!)) throw new InputError(`${opts.pcapIn}: no such file`);
  const cc = runtime.compiled;
  const first = [...cc.nodeIdByName.values()][0] ?? 0;
  const { result, capture, sidecar } = runCapture(dp, readFileSync(opts.pcapIn!), {
    node: first, nodeOf: (a) => { const o = cc.owner(a); return o ? cc.nodeIdByName.get(o.node) : undefined; },
    sidecarPath: opts.sidecar, serviceName: (id) => cc.servicesByIndex.get(id)?.label,
  });
  if (opts.pcapOut) writeFileSync(opts.pcapOut, capture);
  if (opts.sidecar) writeFileSync(opts.sidecar, sidecar);
  const counters = emu.counters();
  const summary = { notes, capture: result, counters };
  process.stdout.write(opts.json ? JSON.stringify(summary) + '\n'
    : `${notes.map((n) => `note: ${n}\n`).join('')}capture ${opts.pcapIn}: ${result.frames} frames, ${result.packets} packets run, ${result.forwarded} forwarded` +
      `${Object.keys(result.skipped).length ? `, skipped: ${Object.entries(result.skipped).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}\n` +
      `verdicts: ${Object.entries(counters.verdicts).map(([k, v]) => `${k} ${v}`).join(', ')}\n` +
      `${Object.keys(counters.drops).length ? `drops: ${Object.entries(counters.drops).map(([k, v]) => `${k} ${v}`).join(', ')}\n` : ''}`);
}


