// `dpemu run`'s engine, on the library API: a traffic spec over an emulator, tick by tick (1 ms of virtual
// time), with churn applied as cluster changes at their times. New connections arrive as Poisson processes
// per traffic entry; the generator writes their packets straight into a batch in the core's memory, the core
// processes the batch, and the generator reads the outcome back to schedule replies and next steps.
// Browser-safe: files for churn come through `readFiles`.

import { jsonDocuments, yamlDocuments } from '../k8s/load.js';
import type { Emulator, ManifestText } from '../api/types.js';
import { internalsOf } from '../api/emulator.js';
import { InputError } from '../errors.js';
import { formatIPv4, parseIPv4 } from '../common/ip.js';
import { PROTO, PacketBatch } from '../packet.js';
import type { ClusterModel, Pod } from '../k8s/model.js';
import { ClusterDns } from '../dns/server.js';
import { ResolvConf, StubResult, clusterDnsIP, resolvConf, resolveAsPod } from '../dns/stub.js';
import type { TrafficSpec, ChurnEvent } from './spec.js';
import { Client, TargetSpec, WORKLOAD_KINDS, clientsOf, entryNodes, externalFrontend, podsOf, splitRef, targetsOf } from './targets.js';
import { ConnectionStats, Generator, Random, pick, zipfCdf } from './generator.js';
import { routeHttpPacket } from '../gateway/trace-hook.js';

export interface RunOptions {
  /** Manifest files for churn `apply` paths and the workloads `scale` changes (the cluster's own files). */
  readFiles?: (paths: string[]) => ManifestText[];
  /** The cluster's manifest files as loaded (where `scale` finds the workload to change). */
  clusterFiles?: readonly ManifestText[];
  /**
   * Every batch's processed descriptors, as they come (collectors and capture writers read them here; the
   * views are live until the next batch), with the virtual time in ms.
   */
  onBatch?: (bytes: Uint8Array, count: number, batch: PacketBatch, nowMs: number) => void;
  /** Called about every 50 ms of virtual time with the virtual ms done and the total. */
  onProgress?: (doneMs: number, totalMs: number) => void;
  /**
   * DNS lookups, one call each when the lookup ends (client address, name, queries sent, the answer's rcode —
   * TIMEOUT when a query or its reply was dropped — and whether the dataplane blocked it).
   */
  onDns?: (e: { client: string; name: string; type: string; queries: number; rcode: string; blocked: boolean }) => void;
  /** After every change of the cluster during the run (collectors note the new service entries here). */
  onChange?: (change: RunChange) => void;
  /** Packets per process() call at most (default 4096). */
  batchSize?: number;
}

/** A change made during the run. */
export interface RunChange { at: number; what: string; services: number }

export interface RunEntryResult {
  index: number; from: string; to: string[]; proto: string; rate: number;
  stats: ConnectionStats;
}

export interface RunResult {
  duration: number;
  seed: number;
  /** Virtual ms the run took (traffic plus the time its last connections needed to finish). */
  virtualMs: number;
  wallMs: number;
  packets: number;
  entries: RunEntryResult[];
  changes: RunChange[];
}

/** Everything a connection needs that depends on the current cluster (rebuilt after every change). */
interface Resolved {
  model: ClusterModel;
  dns: ClusterDns;
  dnsIP: string | undefined;
  dnsCache: Map<string, StubResult>;
  clients: Map<string, (Client & { conf?: ResolvConf; confKey?: string })[]>;
  targets: TargetSpec[][];
  nodeIds: Map<string, number>;
  nodeOfAddr: Map<number, number>;
  /** Nodes' InternalIPs by name, and the nodes an external client may enter on, per Service and `via` (made once). */
  nodeIPs: Map<string, string | undefined>;
  entryNodes: Map<string, string[]>;
}

const TICK_MS = 1;

export async function runTraffic(emu: Emulator, spec: TrafficSpec, options: RunOptions = {}): Promise<RunResult> {
  const { runtime, tracer, dp } = internalsOf(emu);
  const random = new Random(spec.seed);
  const batchSize = options.batchSize ?? 4096;
  const batch = emu.createBatch(batchSize);
  const t0 = emu.now;

  const resolve = (): Resolved => {
    const model = runtime.model;
    const cc = runtime.compiled;
    const dns = new ClusterDns(model);
    const clients = new Map<string, (Client & { conf?: ResolvConf; confKey?: string })[]>();
    for (const g of spec.clients) {
      clients.set(g.name, clientsOf(model, g).map((c) => {
        if (!c.pod) return c;
        const conf = resolvConf(c.pod, model);
        return { ...c, conf, confKey: JSON.stringify(conf) };
      }));
    }
    const targets = spec.traffic.map((e) => {
      const ts = targetsOf(model, e);
      const external = spec.clients.find((g) => g.name === e.from)?.kind === 'external';
      for (const [j, t] of ts.entries()) {
        if (t.form === 'name' && external) throw new InputError(`traffic[${e.index}].to${ts.length > 1 ? `[${j}]` : ''}: external clients do not use the cluster DNS; name the Service as svc/ns/name:port`, `traffic[${e.index}].to`);
        if (t.form === 'name' && typeof t.port === 'string') throw new InputError(`traffic[${e.index}].to: a DNS name takes a port number, got ${JSON.stringify(t.port)}`, `traffic[${e.index}].to`);
      }
      return ts;
    });
    return { model, dns, dnsIP: clusterDnsIP(model), dnsCache: new Map(), clients, targets, nodeIds: cc.nodeIdByName, nodeOfAddr: new Map(),
      nodeIPs: new Map(model.nodes.map((n) => [n.name, n.internalIP])), entryNodes: new Map() };
  };
  let cur = resolve();

  const nodeOf = (addr: number): number => {
    let id = cur.nodeOfAddr.get(addr);
    if (id === undefined) {
      const o = runtime.compiled.owner(addr);
      id = o ? cur.nodeIds.get(o.node) ?? -1 : -1;
      cur.nodeOfAddr.set(addr, id);
    }
    return id;
  };
  const dnsService = () => (cur.dnsIP !== undefined ? { addr: parseIPv4(cur.dnsIP)!, port: 53 } : undefined);
  const gen = new Generator(spec.traffic.length, random, nodeOf, dnsService());
  // Lookups under way, by id: told to onDns when their packets have gone through (or been dropped).
  const lookups: ({ client: string; name: string; queries: number; rcode: string } | undefined)[] = [];
  const freeLookups: number[] = [];
  gen.onLookupDone = (id, blocked) => {
    const l = lookups[id]!;
    lookups[id] = undefined;
    freeLookups.push(id);
    options.onDns?.({ client: l.client, name: l.name, type: 'A', queries: l.queries, rcode: blocked ? 'TIMEOUT' : l.rcode, blocked });
  };

  // Popularity over each entry's targets.
  const cdfs = spec.traffic.map((e) => {
    const n = e.to.length;
    return e.popularity.kind === 'zipf' ? zipfCdf(n, e.popularity.s) : zipfCdf(n, 0);
  });
  const nextPort = new Map<number, number>();
  const portFor = (addr: number): number => {
    // Ephemeral ports (ip_local_port_range 32768-60999) taken in turn from a per-client start.
    let p = nextPort.get(addr);
    if (p === undefined) p = 32768 + ((Math.imul(addr, 0x9e3779b1) >>> 0) % 28232);
    const port = p;
    nextPort.set(addr, p >= 60999 ? 32768 : p + 1);
    return port;
  };

  const openConnection = (ei: number, tick: number): void => {
    const e = spec.traffic[ei];
    const group = cur.clients.get(e.from)!;
    const client = group[random.int(group.length)];
    const target = cur.targets[ei][pick(cdfs[ei], random.next())];
    const proto = e.proto === 'TCP' ? PROTO.TCP : e.proto === 'UDP' ? PROTO.UDP : PROTO.SCTP;
    let node = client.node === '' ? -1 : cur.nodeIds.get(client.node) ?? -1;
    let dst = 0, dport = 0, dnsQueries = 0, dnsFails = false, lookup = -1;
    switch (target.form) {
      case 'address': dst = target.addr; dport = target.port; break;
      case 'pods': { const p = target.pods[random.int(target.pods.length)]; dst = parseIPv4(p.podIP!)!; dport = target.port; break; }
      case 'service': {
        const svc = target.svc, sp = target.port;
        if (!client.pod) {
          // An external client enters on a node the load balancer (or the client) picks.
          const via = e.via ?? (svc.loadBalancerIngress.length ? 'loadBalancer' : undefined);
          const entryKey = `${svc.namespace}/${svc.name}|${via}`;
          let names = cur.entryNodes.get(entryKey);
          if (!names) cur.entryNodes.set(entryKey, (names = entryNodes(cur.model, svc, via)));
          const name = client.node !== '' ? client.node : names[random.int(names.length)];
          node = cur.nodeIds.get(name) ?? -1;
          const fe = externalFrontend(svc, sp, e.via, cur.nodeIPs.get(name), `traffic[${ei}].to`);
          dst = fe.addr; dport = fe.port;
        } else if (e.via && e.via !== 'clusterIP') {
          const fe = externalFrontend(svc, sp, e.via, cur.nodeIPs.get(client.node), `traffic[${ei}].to`);
          dst = fe.addr; dport = fe.port;
        } else {
          if (svc.clusterIP === undefined) throw new InputError(`traffic[${ei}].to: Service ${svc.namespace}/${svc.name} has no cluster IP (headless: name its DNS name instead)`, `traffic[${ei}].to`);
          dst = parseIPv4(svc.clusterIP)!; dport = sp.port;
        }
        break;
      }
      case 'name': {
        const conf = client.conf!;
        const key = `${client.confKey}|${target.name}`;
        let r = cur.dnsCache.get(key);
        if (!r) { r = resolveAsPod(cur.dns, conf, target.name, 'A', cur.dnsIP); cur.dnsCache.set(key, r); }
        const served = cur.dnsIP !== undefined && conf.nameservers.includes(cur.dnsIP);
        const answers = r.answer.filter((a) => a.type === 'A');
        dport = target.port as number;
        if (!served) {
          // The pod's resolver is not the cluster DNS (dnsPolicy Default, None): cluster names do not resolve.
          const st = gen.stats[ei];
          st.opened++; st.failed++; st.failedAt.dns++; st.dnsLookups++; st.dnsFailed++;
          options.onDns?.({ client: formatIPv4(client.addr), name: target.name, type: 'A', queries: 0, rcode: 'SERVFAIL', blocked: false });
          return;
        }
        dnsQueries = r.tried.length;
        if (answers.length) dst = parseIPv4(answers[random.int(answers.length)].data)!;
        else dnsFails = true;
        if (options.onDns) {
          lookup = freeLookups.length ? freeLookups.pop()! : lookups.length;
          lookups[lookup] = { client: formatIPv4(client.addr), name: target.name, queries: dnsQueries, rcode: r.rcode };
        }
        break;
      }
    }
    if (node < 0) node = nodeOf(client.addr);
    if (node < 0) node = cur.nodeIds.values().next().value ?? 0;
    if (e.http) {
      // North-south: the Gateway or Ingress at the target decides first (in the core, src/gateway); a request
      // it answers itself (404, 500, 503, a redirect) sends no packet, a routed one connects to the chosen
      // Service from the node it entered on.
      const step = routeHttpPacket(dp, cur.model, formatIPv4(dst), dport, e.http);
      const st = gen.stats[ei];
      const status = step ? String(step.http.status) : 'no listener';
      st.http[status] = (st.http[status] ?? 0) + 1;
      if (!step?.forward) { st.opened++; st.completed++; return; } // answered by the proxy: no dataplane packet
      dst = parseIPv4(step.forward.dst)!; dport = step.forward.dport;
    }
    gen.open({
      client: client.addr, clientPort: portFor(client.addr), node, dst, dport, proto, entry: ei,
      requests: e.requests, requestBytes: e.requestBytes, responseBytes: e.responseBytes,
      lifetimeMs: Math.round(e.lifetime * 1000), rst: e.rstRatio > 0 && random.next() < e.rstRatio,
      dnsQueries, dnsAddr: 0, dnsFails, retransmit: e.retransmit, lookup,
    }, tick);
  };

  // Churn: cluster changes at their times.
  const changes: RunChange[] = [];
  /** What comes back later: a restarted workload's endpoints ready again, or a failed node (`node`) restarting. */
  const restarts: { at: number; ref: string; slices: { kind: string; namespace: string; name: string }[]; node?: boolean }[] = [];
  const applyChange = (ev: ChurnEvent): void => {
    let what: string;
    if (ev.kind === 'apply') {
      if (!options.readFiles) throw new InputError('churn apply: this run cannot read files');
      emu.applyFiles(options.readFiles(ev.paths));
      what = `apply ${ev.paths.join(', ')}`;
    } else if (ev.kind === 'delete') {
      const refs = ev.targets.filter((t): t is { kind: string; namespace?: string; name: string } => typeof t !== 'string');
      const paths = ev.targets.filter((t): t is string => typeof t === 'string');
      if (paths.length) {
        if (!options.readFiles) throw new InputError('churn delete: this run cannot read files');
        emu.deleteFiles(options.readFiles(paths));
      }
      if (refs.length) emu.delete(refs);
      what = `delete ${ev.targets.map((t) => (typeof t === 'string' ? t : `${t.kind} ${t.namespace ? `${t.namespace}/` : ''}${t.name}`)).join(', ')}`;
    } else if (ev.kind === 'fail') {
      emu.failNode(ev.node);
      if (ev.for !== undefined) {
        restarts.push({ at: ev.at + ev.for, ref: ev.node, slices: [], node: true });
        restarts.sort((a, b) => a.at - b.at);
      }
      what = `fail ${ev.node}${ev.for !== undefined ? ` (down for ${ev.for} s)` : ''}`;
    } else if (ev.kind === 'scale') {
      emu.apply(scaledWorkload(options.clusterFiles ?? [], ev.ref, ev.replicas));
      what = `scale ${ev.ref} to ${ev.replicas}`;
    } else {
      const slices = notReadySlices(cur.model, ev.ref);
      emu.apply(slices);
      restarts.push({ at: ev.at + ev.for, ref: ev.ref, slices: slices.map((s) => ({ kind: 'EndpointSlice', namespace: (s.metadata as { namespace: string }).namespace, name: (s.metadata as { name: string }).name })) });
      restarts.sort((a, b) => a.at - b.at);
      what = `restart ${ev.ref} (not ready for ${ev.for} s)`;
    }
    changes.push({ at: ev.at, what, services: emu.services().length });
    cur = resolve();
    options.onChange?.(changes[changes.length - 1]);
  };

  const durationMs = Math.round(spec.duration * 1000);
  const maxLifetimeMs = Math.max(0, ...spec.traffic.map((e) => e.lifetime * 1000));
  const endMs = durationMs + Math.ceil(maxLifetimeMs) + 1000; // the last connections finish
  const nextArrival = spec.traffic.map((e) => (e.rate > 0 ? random.exp(e.rate) * 1000 : Infinity));
  let churnAt = 0;
  let packets = 0;
  const wall0 = performance.now();
  let tick = 0;
  let lastProgress = 0;
  for (; tick < endMs; tick += TICK_MS) {
    if (tick >= durationMs && gen.live === 0) break;
    while (churnAt < spec.churn.length && spec.churn[churnAt].at * 1000 <= tick) applyChange(spec.churn[churnAt++]);
    while (restarts.length && restarts[0].at * 1000 <= tick) {
      const r = restarts.shift()!;
      if (r.node) emu.restartNode(r.ref); else emu.delete(r.slices);
      changes.push({ at: r.at, what: r.node ? `${r.ref} restarted` : `${r.ref} ready again`, services: emu.services().length });
      cur = resolve();
      options.onChange?.(changes[changes.length - 1]);
    }
    if (tick < durationMs) {
      for (let ei = 0; ei < spec.traffic.length; ei++) {
        while (nextArrival[ei] < tick + TICK_MS) {
          openConnection(ei, tick);
          nextArrival[ei] += random.exp(spec.traffic[ei].rate) * 1000;
        }
      }
    }
    do {
      const n = gen.fill(batch.raw.bytes(batchSize), batchSize, tick);
      if (n === 0) break;
      emu.process(batch, n);
      const out = batch.raw.bytes(n);
      gen.absorb(out, n, tick);
      options.onBatch?.(out, n, batch.raw, Math.round(emu.now * 1000));
      packets += n;
    } while (gen.hasPending);
    // The clock moves 1 ms; expired flows are collected once a virtual second (a full table scan).
    const t = t0 + (tick + TICK_MS) / 1000;
    if ((tick + TICK_MS) % 1000 === 0) tracer.advanceTo(t);
    else tracer.clock = { t, gcMs: tracer.clock.gcMs };
    if (options.onProgress && tick - lastProgress >= 50) { lastProgress = tick; options.onProgress(Math.min(tick, durationMs), durationMs); }
  }
  options.onProgress?.(durationMs, durationMs);
  return {
    duration: spec.duration, seed: spec.seed, virtualMs: tick, wallMs: performance.now() - wall0, packets,
    entries: spec.traffic.map((e, i) => ({ index: i, from: e.from, to: e.to, proto: e.proto, rate: e.rate, stats: gen.stats[i] })),
    changes,
  };
}

/** The workload a `scale` event names, from the cluster's files, with its new replica count. */
function scaledWorkload(files: readonly ManifestText[], ref: string, replicas: number): Record<string, unknown> {
  const r = splitRef(ref);
  const kind = r && Object.hasOwn(WORKLOAD_KINDS, r.kind) && WORKLOAD_KINDS[r.kind] !== 'DaemonSet' ? WORKLOAD_KINDS[r.kind] : undefined;
  if (!r || !kind) throw new InputError(`churn scale: ${JSON.stringify(ref)} is not a workload reference (deploy/ns/name, sts/..., rs/..., rc/...)`, 'churn.scale');
  for (const f of files) {
    for (const doc of documentsOf(f)) {
      const md = doc.metadata as Record<string, unknown> | undefined;
      if (doc.kind === kind && md?.name === r.name && ((md?.namespace as string | undefined) ?? 'default') === r.namespace) {
        return { ...doc, spec: { ...(doc.spec as Record<string, unknown>), replicas } };
      }
    }
  }
  throw new InputError(`churn scale: no ${kind} ${r.namespace}/${r.name} in the cluster's manifests`, 'churn.scale');
}

/** A file's objects (List items spread out), read as the loader reads them (JSON, else YAML). */
function documentsOf(f: ManifestText): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const d of jsonDocuments(f.text) ?? yamlDocuments(f)) {
    if (!d || typeof d !== 'object' || Array.isArray(d)) continue;
    const o = d as Record<string, unknown>;
    if (Array.isArray(o.items)) for (const it of o.items) { if (it && typeof it === 'object') out.push(it as Record<string, unknown>); }
    else out.push(o);
  }
  return out;
}

/**
 * A pod restarting: its endpoints not ready (and not serving) in every Service that has it, written as
 * EndpointSlice objects in place of the derived ones (the EndpointSlice controller's view while the pod's
 * readiness probe fails). Deleting them lets the slices be derived from the pods again.
 */
function notReadySlices(model: ClusterModel, ref: string): Record<string, unknown>[] {
  const pods = podsOf(model, ref, 'churn.restart');
  const ips = new Set(pods.flatMap((p: Pod) => p.podIPs));
  const out: Record<string, unknown>[] = [];
  for (const s of model.endpointSlices) {
    if (!s.endpoints.some((e) => ips.has(e.addresses[0]))) continue;
    out.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${s.name}-restart`, namespace: s.namespace, labels: { ...s.labels, 'kubernetes.io/service-name': s.serviceName, 'endpointslice.kubernetes.io/managed-by': 'dpemu-run' } },
      addressType: s.addressType,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      endpoints: s.endpoints.map((e) => {
        const down = ips.has(e.addresses[0]);
        return {
          addresses: e.addresses,
          conditions: down ? { ready: false, serving: false, terminating: false } : e.conditions,
          ...(e.nodeName ? { nodeName: e.nodeName } : {}), ...(e.zone ? { zone: e.zone } : {}),
          ...(e.hostname ? { hostname: e.hostname } : {}), ...(e.targetRef ? { targetRef: e.targetRef } : {}),
        };
      }),
    });
  }
  if (out.length === 0) throw new InputError(`churn restart: ${ref} is an endpoint of no Service`, 'churn.restart');
  return out;
}
