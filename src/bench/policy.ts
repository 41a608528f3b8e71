// The policy benchmark: a cluster of `pods` pods (default 10,000) in 50
// namespaces on 100 nodes, with `policies` NetworkPolicies (default 1,000:
// pod and namespace selectors, AND peers, ipBlocks with excepts, numeric,
// named and ranged ports, egress with DNS, default-deny) plus a few
// AdminNetworkPolicies and a baseline. It reports the compile time (identities,
// subjects and entries), the map entries, and the per-packet cost of new flows
// (first SYNs: ipcache, policy lookups, conntrack insert) and of the fast path
// (established flows) with the policies and without them, on the same cluster
// and the same traffic, in interleaved runs, as medians.
//
// Traffic: pod-to-pod TCP to port 8080 (a named port "http" of every pod) and
// 443, drawn with a seeded PRNG. With policies some of it is dropped (that is
// the point of them): the result says how much. The fast path runs over flows
// that both dataplanes forwarded.

import { createDataplane } from '../node.js';
import { Allocations, Plan, planCluster, programPlan, resolveCompileOptions } from '../k8s/compile.js';
import type { ClusterModel, Namespace, Node, Pod } from '../k8s/model.js';
import type { AdminPolicy, ClusterPolicies, LabelSelector, NetworkPolicy } from '../policy/model.js';
import { Prng } from '../common/prng.js';
import { ip, formatIPv4 } from '../common/ip.js';
import { PacketBatch, PROTO, TCP, VERDICT } from '../packet.js';
import type { Dataplane } from '../dataplane.js';
import { median } from './stats.js';
import { policyStateOf } from '../policy/compile.js';
import { PolicyUpdater, programPolicyDelta } from '../policy/incremental.js';

export interface PolicyBenchConfig {
  pods?: number;
  policies?: number;
  /** Packets per timed round (default 2^17). */
  packets?: number;
  /** Timed rounds per dataplane and scenario (default 5), interleaved. */
  rounds?: number;
  /** Single policy and pod-label changes applied incrementally, timed one by one (default 200). */
  changes?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface PolicyBenchResult {
  pods: number; networkPolicies: number; adminPolicies: number;
  identities: number; subjects: number; ruleIds: number;
  policyEntries: number; ipcacheEntries: number;
  /** Median of three compiles of the same cluster (each from fresh ids), as the control-plane benchmark takes them. */
  compileMs: number; programMs: number;
  /** The first of those compiles alone (a process compiling once pays for its code being compiled too). */
  firstCompileMs: number;
  /**
   * Single changes applied incrementally and written into the core, alternately a NetworkPolicy
   * replaced (a port changed) and a pod relabelled to another pod's labels: ms per change (median,
   * p99, max), and how many the incremental path declined (each then a full compile, timed too).
   */
  incremental: {
    changes: number; declined: number; medianMs: number; p99Ms: number; maxMs: number; policyMedianMs: number; podMedianMs: number;
    /** Median CPU time (user + system) of one change, ms: its cost when the process is not descheduled. */
    cpuMedianMs: number;
  };
  newflow: { nsWith: number; nsWithout: number; ratio: number; droppedWith: number };
  /** New flows over connections both allow only. */
  newflowAllowed: { nsWith: number; nsWithout: number; ratio: number };
  fastpath: { nsWith: number; nsWithout: number; ratio: number };
  /** newflow with policies over the no-policy fast path (the 1.5x target is on the fast path). */
  target: { fastpathRatio: number; met: boolean };
  runs: { newflowWith: number[]; newflowWithout: number[]; newflowAllowedWith: number[]; newflowAllowedWithout: number[]; fastpathWith: number[]; fastpathWithout: number[] };
}

const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector => ({ matchLabels, matchExpressions });

/** The benchmark cluster: deterministic in `seed`. */
export function policyBenchCluster(podCount = 10_000, policyCount = 1_000, seed = 1): ClusterModel {
  const rng = new Prng(seed);
  const pick = (n: number) => rng.next() % n;
  const NS = 50, NODES = 100, APPS = 400;
  const namespaces: Namespace[] = Array.from({ length: NS }, (_, i) => ({
    name: `ns-${i}`, implicit: false,
    labels: { 'kubernetes.io/metadata.name': `ns-${i}`, team: `t${i % 10}`, env: i % 3 === 0 ? 'dev' : 'prod' },
  }));
  namespaces.push({ name: 'kube-system', implicit: false, labels: { 'kubernetes.io/metadata.name': 'kube-system' } });
  const nodes: Node[] = Array.from({ length: NODES }, (_, n) => ({
    name: `node-${n}`, labels: { 'kubernetes.io/hostname': `node-${n}`, zone: `z${n % 3}` },
    internalIP: `192.168.${n >> 8}.${(n & 255) + 1}`, addresses: [{ type: 'InternalIP', address: `192.168.${n >> 8}.${(n & 255) + 1}` }],
    podCIDRs: [`10.1.${n}.0/24`], podCIDRAllocated: false, unschedulable: false, taints: [], ready: true,
  }));
  const tiers = ['fe', 'be', 'db'];
  const pods: Pod[] = [];
  for (let i = 0; i < podCount; i++) {
    const n = i % NODES, k = Math.floor(i / NODES);
    const app = i % APPS;
    const addr = `10.1.${n}.${(k % 250) + 2}`;
    pods.push({
      namespace: `ns-${app % NS}`, name: `p-${i}`, labels: { app: `app-${app}`, tier: tiers[i % 3] }, nodeName: `node-${n}`,
      hostNetwork: false, ports: [{ container: 'c', name: 'http', containerPort: 8080, protocol: 'TCP' }, { container: 'c', name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
      podIP: addr, podIPs: [addr], phase: 'Running', ready: true, terminating: false, simulated: true,
    });
  }
  pods.push({ namespace: 'kube-system', name: 'coredns', labels: { 'k8s-app': 'kube-dns' }, nodeName: 'node-0', hostNetwork: false,
    ports: [{ container: 'c', name: 'dns', containerPort: 53, protocol: 'UDP' }], podIP: '10.1.0.253', podIPs: ['10.1.0.253'],
    phase: 'Running', ready: true, terminating: false, simulated: true });

  const nps: NetworkPolicy[] = [];
  for (let j = 0; j < policyCount; j++) {
    const nsi = j % NS;
    const appIn = (x: number) => `app-${nsi + NS * (x % (APPS / NS))}`; // an app of namespace nsi
    const base = { namespace: `ns-${nsi}`, name: `np-${j}`, podSelector: sel({ app: appIn(j >> 6) }) };
    const kind = j % 10;
    if (kind < 4) {
      nps.push({ ...base, policyTypes: ['Ingress'], egress: [], ingress: [{ peers: [{ kind: 'selector', podSelector: sel({ app: appIn(pick(8)) }) }], ports: [{ protocol: 'TCP', port: 8080 }] }] });
    } else if (kind < 6) {
      nps.push({ ...base, policyTypes: ['Ingress'], egress: [], ingress: [{
        peers: [{ kind: 'selector', namespaceSelector: sel({ team: `t${pick(10)}` }), podSelector: sel({ tier: 'fe' }) }],
        ports: [{ protocol: 'TCP', port: 'http' }],
      }] });
    } else if (kind < 8) {
      const b = j % 256;
      nps.push({ ...base, policyTypes: ['Ingress'], egress: [], ingress: [{
        peers: [{ kind: 'ipBlock', cidr: `172.16.${b}.0/24`, except: [`172.16.${b}.128/25`] }],
        ports: [{ protocol: 'TCP', port: 443, endPort: 450 }],
      }] });
    } else if (kind < 9) {
      nps.push({ ...base, policyTypes: ['Ingress', 'Egress'], ingress: [{ peers: [], ports: [{ protocol: 'TCP', port: 443 }] }], egress: [
        { peers: [{ kind: 'selector', podSelector: sel({}, [{ key: 'tier', operator: 'In', values: ['db', 'be'] }]) }], ports: [{ protocol: 'TCP', port: 8080 }] },
        { peers: [{ kind: 'selector', namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'kube-system' }), podSelector: sel({ 'k8s-app': 'kube-dns' }) }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
      ] });
    } else {
      nps.push({ ...base, podSelector: sel({ tier: 'db' }), policyTypes: ['Ingress'], ingress: [], egress: [] });
    }
  }
  const admins: AdminPolicy[] = [];
  for (let a = 0; a < 5; a++) {
    admins.push({ kind: 'AdminNetworkPolicy', name: `anp-${a}`, tier: 'Admin', priority: 10 + a,
      subject: { kind: 'namespaces', namespaceSelector: sel({ team: `t${a}` }) },
      ingress: [
        { name: 'ops', action: 'Allow', peers: [{ kind: 'namespaces', namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'kube-system' }) }] },
        { name: 'no-ssh', action: 'Deny', peers: [{ kind: 'networks', cidrs: ['0.0.0.0/0'] }], ports: [{ protocol: 'TCP', port: 22 }] },
      ],
      egress: [{ name: 'no-metadata', action: 'Deny', peers: [{ kind: 'networks', cidrs: ['169.254.169.254/32'] }] }] });
  }
  admins.push({ kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0,
    subject: { kind: 'namespaces', namespaceSelector: sel({ env: 'prod' }) },
    ingress: [{ name: 'dev-out', action: 'Deny', peers: [{ kind: 'pods', namespaceSelector: sel({ env: 'dev' }), podSelector: sel({ tier: 'db' }) }] }],
    egress: [] });
  const policies: ClusterPolicies = { networkPolicies: nps, adminPolicies: admins };
  return {
    config: { serviceCIDR: '10.96.0.0/16', nodePortRange: [30000, 32767], clusterCIDR: '10.0.0.0/8', nodeCIDRMaskSize: 24, maxEndpointsPerSlice: 100 },
    namespaces, nodes, pods, services: [], endpointSlices: [], policies,
  };
}


export async function runPolicyBench(cfg: PolicyBenchConfig = {}): Promise<PolicyBenchResult> {
  const log = cfg.log ?? (() => {});
  const podCount = cfg.pods ?? 10_000, policyCount = cfg.policies ?? 1_000;
  const packets = cfg.packets ?? 1 << 17, rounds = cfg.rounds ?? 5;
  const withModel = policyBenchCluster(podCount, policyCount, cfg.seed ?? 1);
  const withoutModel: ClusterModel = { ...withModel, policies: undefined };

  log(`compiling ${podCount} pods, ${policyCount} NetworkPolicies, ${withModel.policies!.adminPolicies.length} admin policies`);
  let alloc = new Allocations();
  let t0 = performance.now();
  let plan = planCluster(withModel, resolveCompileOptions(withModel), alloc);
  const compiles = [performance.now() - t0];
  for (let i = 0; i < 2; i++) { // again from fresh ids: the same plan
    alloc = new Allocations();
    t0 = performance.now();
    plan = planCluster(withModel, resolveCompileOptions(withModel), alloc);
    compiles.push(performance.now() - t0);
  }
  const compileMs = median(compiles), firstCompileMs = compiles[0];
  const entries = plan.policy!.entries.size;
  log(`compiled in ${compiles.map((c) => c.toFixed(0)).join(', ')} ms: ${entries} policy entries, ${plan.ipcache.size} ipcache entries`);

  const maxFlows = 1 << 19;
  const limits = { maxFlows, maxIpcache: 1 << 15, maxPolicy: Math.max(1024, entries + 1), maxNodes: 128, maxServices: 16, maxFrontends: 64, maxBackends: 16, maxSlots: 64, maxMaglevCells: 64, maxAffinity: 64 };
  const withDp = await createDataplane('wasm', limits);
  t0 = performance.now();
  programPlan(withDp, plan, undefined, alloc);
  const programMs = performance.now() - t0;
  const withoutDp = await createDataplane('wasm', limits);
  const alloc2 = new Allocations();
  programPlan(withoutDp, planCluster(withoutModel, resolveCompileOptions(withoutModel), alloc2), undefined, alloc2);

  // Traffic: random pod pairs, to 8080 (named port http) or 443.
  const rng = new Prng(cfg.seed ?? 7);
  const addrs = withModel.pods.map((p) => ip(p.podIP!));
  const nodeOf = withModel.pods.map((p) => Number(p.nodeName!.slice(5)));
  const pairs = Array.from({ length: packets }, () => {
    const s = rng.next() % addrs.length, d = rng.next() % addrs.length;
    return { s, d, dport: rng.next() % 4 === 0 ? 443 : 8080 };
  });
  const batchSize = 1 << 16;
  const batches = new Map<Dataplane, PacketBatch>([[withDp, withDp.allocBatch(batchSize)], [withoutDp, withoutDp.allocBatch(batchSize)]]);
  const clock = new Map<Dataplane, number>([[withDp, 1000], [withoutDp, 1000]]);

  /** One round of first packets (fresh source ports), timed; returns ns/packet and drops. */
  const newflowRound = (dp: Dataplane, round: number, traffic: { s: number; d: number; dport: number }[] = pairs): { ns: number; dropped: number } => {
    const batch = batches.get(dp)!;
    let now = clock.get(dp)! + 61_000; clock.set(dp, now);
    dp.gc(now);
    let ns = 0, dropped = 0;
    for (let off = 0; off < packets; off += batchSize) {
      const n = Math.min(batchSize, packets - off);
      for (let i = 0; i < n; i++) {
        const p = traffic[(off + i) % traffic.length];
        batch.set(i, { saddr: addrs[p.s], daddr: addrs[p.d], sport: 1024 + ((off + i + round * 7919) % 60000), dport: p.dport, proto: PROTO.TCP, tcpFlags: TCP.SYN, node: nodeOf[p.s], len: 60 });
      }
      const t = process.hrtime.bigint();
      const fwd = dp.process(batch, n, now);
      ns += Number(process.hrtime.bigint() - t);
      dropped += n - fwd;
      now += 1;
    }
    return { ns: ns / packets, dropped };
  };

  const newWith: number[] = [], newWithout: number[] = [];
  let droppedWith = 0;
  for (let r = 0; r < rounds; r++) {
    const a = newflowRound(withDp, r); newWith.push(a.ns); droppedWith = a.dropped / packets;
    const b = newflowRound(withoutDp, r); newWithout.push(b.ns);
    log(`newflow round ${r + 1}: with ${a.ns.toFixed(0)} ns/packet (${(100 * a.dropped / packets).toFixed(1)}% dropped), without ${b.ns.toFixed(0)} ns/packet`);
  }

  // Fast path: establish the flows both forward (SYN then ACK), then time ACKs over them.
  const established: { s: number; d: number; dport: number; sport: number }[] = [];
  {
    const now = clock.get(withDp)! + 61_000;
    for (const dp of [withDp, withoutDp]) { clock.set(dp, now); dp.gc(now); }
    const b1 = batches.get(withDp)!, b2 = batches.get(withoutDp)!;
    for (let off = 0; off < packets; off += batchSize) {
      const n = Math.min(batchSize, packets - off);
      for (let i = 0; i < n; i++) {
        const p = pairs[off + i];
        const pk = { saddr: addrs[p.s], daddr: addrs[p.d], sport: 1024 + ((off + i) % 60000), dport: p.dport, proto: PROTO.TCP, tcpFlags: TCP.SYN, node: nodeOf[p.s], len: 60 };
        b1.set(i, pk); b2.set(i, pk);
      }
      withDp.process(b1, n, now); withoutDp.process(b2, n, now);
      for (let i = 0; i < n; i++) {
        if (b1.get(i).verdict === VERDICT.FORWARDED && b2.get(i).verdict === VERDICT.FORWARDED) {
          const p = pairs[off + i];
          established.push({ ...p, sport: 1024 + ((off + i) % 60000) });
        }
      }
    }
  }
  if (established.length === 0) throw new Error('policy bench: no flow is allowed by the policies; nothing to measure on the fast path');
  const fastRound = (dp: Dataplane): number => {
    const batch = batches.get(dp)!;
    const now = clock.get(dp)! + 1000; clock.set(dp, now);
    let ns = 0;
    for (let off = 0; off < packets; off += batchSize) {
      const n = Math.min(batchSize, packets - off);
      for (let i = 0; i < n; i++) {
        const f = established[(off + i) % established.length];
        batch.set(i, { saddr: addrs[f.s], daddr: addrs[f.d], sport: f.sport, dport: f.dport, proto: PROTO.TCP, tcpFlags: TCP.ACK, node: nodeOf[f.s], len: 60 });
      }
      const t = process.hrtime.bigint();
      const fwd = dp.process(batch, n, now);
      ns += Number(process.hrtime.bigint() - t);
      if (fwd !== n) throw new Error(`policy bench: ${n - fwd} established packets were not forwarded (${formatIPv4(addrs[established[0].s])}...)`);
    }
    return ns / packets;
  };
  const fastWith: number[] = [], fastWithout: number[] = [];
  for (let r = 0; r < rounds; r++) {
    fastWith.push(fastRound(withDp)); fastWithout.push(fastRound(withoutDp));
    log(`fastpath round ${r + 1}: with ${fastWith[r].toFixed(0)} ns/packet, without ${fastWithout[r].toFixed(0)} ns/packet (${established.length} flows)`);
  }

  // New flows again, over the connections both dataplanes allow only (no cheap drops on the policy
  // side), after every flow of the fast path has expired (6 h of virtual time, then gc).
  for (const dp of [withDp, withoutDp]) { const t = clock.get(dp)! + 21_601_000; clock.set(dp, t); dp.gc(t); }
  const allowedWith: number[] = [], allowedWithout: number[] = [];
  for (let r = 0; r < rounds; r++) {
    allowedWith.push(newflowRound(withDp, 100 + r, established).ns);
    allowedWithout.push(newflowRound(withoutDp, 100 + r, established).ns);
    log(`newflow (allowed only) round ${r + 1}: with ${allowedWith[r].toFixed(0)} ns/packet, without ${allowedWithout[r].toFixed(0)} ns/packet`);
  }
  // Incremental changes (last: they change the policies), into a core of the same limits with room to grow.
  const incDp = await createDataplane('wasm', { ...limits, maxPolicy: 2 * limits.maxPolicy });
  programPlan(incDp, plan, undefined, alloc);
  const incremental = measureIncremental(withModel, plan, alloc, incDp, cfg.changes ?? 200, cfg.seed ?? 1, log);
  const nfw = median(newWith), nfo = median(newWithout), fpw = median(fastWith), fpo = median(fastWithout);
  const pol = plan.policy!;
  return {
    pods: podCount, networkPolicies: policyCount, adminPolicies: withModel.policies!.adminPolicies.length,
    identities: pol.identities.size, subjects: pol.subjects.size, ruleIds: pol.rules.size,
    policyEntries: entries, ipcacheEntries: plan.ipcache.size, compileMs, firstCompileMs, programMs, incremental,
    newflow: { nsWith: nfw, nsWithout: nfo, ratio: nfw / nfo, droppedWith },
    newflowAllowed: { nsWith: median(allowedWith), nsWithout: median(allowedWithout), ratio: median(allowedWith) / median(allowedWithout) },
    fastpath: { nsWith: fpw, nsWithout: fpo, ratio: fpw / fpo },
    target: { fastpathRatio: fpw / fpo, met: fpw / fpo <= 1.5 },
    runs: { newflowWith: newWith, newflowWithout: newWithout, newflowAllowedWith: allowedWith, newflowAllowedWithout: allowedWithout, fastpathWith: fastWith, fastpathWithout: fastWithout },
  };
}

/**
 * `changes` single changes, each applied through PolicyUpdater and written into `dp` (a full compile and
 * program when the incremental path declines), timed one by one. Changes alternate: a NetworkPolicy
 * replaced with its first port moved by one, and a pod of the second half relabelled to the labels of a
 * pod of the first half of its namespace (a label set that has an identity already). As many changes
 * run first, untimed (V8 compiles the path meanwhile).
 */
function measureIncremental(model: ClusterModel, plan: Plan, alloc: Allocations, dp: Dataplane, changes: number, seed: number,
  log: (s: string) => void): PolicyBenchResult['incremental'] {
  const rng = new Prng(seed + 99);
  let current = plan;
  let updater = new PolicyUpdater(policyStateOf(plan.policy!)!);
  let nps = [...model.policies!.networkPolicies];
  const pods = [...model.pods];
  const half = Math.floor(pods.length / 2);
  const times: number[] = [], cpuTimes: number[] = [], kinds: boolean[] = [];
  let declined = 0;
  // As many changes again run first, untimed, while V8 compiles the path (as bench --control-plane does).
  for (let c = -changes; c < changes; c++) {
    let apply: () => ReturnType<PolicyUpdater['podLabels']>;
    let next: () => ClusterModel;
    const isPolicy = (c + changes) % 2 === 0;
    if (isPolicy) {
      const k = rng.next() % nps.length, prev = nps[k];
      const np = { ...prev, ingress: prev.ingress.map((r, i) => (i === 0 ? { ...r, ports: r.ports.map((p) => (typeof p.port === 'number' ? { ...p, port: p.port + (c & 2 ? -1 : 1), ...(p.endPort !== undefined ? { endPort: p.endPort + (c & 2 ? -1 : 1) } : {}) } : p)) } : r)) };
      nps = nps.map((p) => (p === prev ? np : p));
      apply = () => updater.networkPolicy(prev, np);
      next = () => ({ ...model, pods, policies: { ...model.policies!, networkPolicies: nps } });
    } else {
      const i = half + (rng.next() % (pods.length - half - 1));
      const pod = pods[i];
      const sameNs = pods.slice(0, half).filter((p) => p.namespace === pod.namespace);
      const labels = { ...sameNs[rng.next() % sameNs.length].labels };
      pods[i] = { ...pod, labels };
      apply = () => updater.podLabels(pod.namespace, pod.name, labels);
      next = () => ({ ...model, pods, policies: { ...model.policies!, networkPolicies: nps } });
    }
    const cpu0 = process.cpuUsage();
    const t = process.hrtime.bigint();
    const delta = apply();
    if (delta) programPolicyDelta(dp, updater.state, delta);
    else {
      if (c >= 0) declined++;
      const m = next();
      const p = planCluster(m, resolveCompileOptions(m), alloc);
      programPlan(dp, p, current, alloc);
      current = p;
      updater = new PolicyUpdater(policyStateOf(p.policy!)!);
    }
    if (c < 0) continue;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    kinds.push(isPolicy);
    const cpu = process.cpuUsage(cpu0);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const r = { changes, declined, medianMs: median(times), cpuMedianMs: median(cpuTimes), policyMedianMs: median(times.filter((_, i) => kinds[i])),
    podMedianMs: median(times.filter((_, i) => !kinds[i])), p99Ms: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)], maxMs: sorted[sorted.length - 1] };
  log(`incremental: ${changes} changes, median ${r.medianMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, ${declined} declined`);
  return r;
}

export function formatPolicyBench(r: PolicyBenchResult): string {
  const f = (x: number) => x.toFixed(0);
  return [
    `policy benchmark: ${r.pods} pods, ${r.networkPolicies} NetworkPolicies, ${r.adminPolicies} admin policies`,
    `  compile           ${f(r.compileMs)} ms, median of 3 (the first ${f(r.firstCompileMs)} ms; program into the core ${f(r.programMs)} ms)`,
    `  one change        ${r.incremental.medianMs.toFixed(3)} ms median (NetworkPolicy ${r.incremental.policyMedianMs.toFixed(3)}, pod labels ${r.incremental.podMedianMs.toFixed(3)}), ${r.incremental.p99Ms.toFixed(3)} ms p99, ${r.incremental.maxMs.toFixed(1)} ms max`,
    `                    over ${r.incremental.changes} changes written into the core, ${r.incremental.declined} of them by a full compile; CPU time ${r.incremental.cpuMedianMs.toFixed(3)} ms median`,
    `  identities        ${r.identities}; subjects ${r.subjects}; rule ids ${r.ruleIds}`,
    `  map entries       policy ${r.policyEntries}, ipcache ${r.ipcacheEntries}`,
    `  new flow (SYN)    ${f(r.newflow.nsWith)} ns/packet with policies (${(100 * r.newflow.droppedWith).toFixed(1)}% dropped), ${f(r.newflow.nsWithout)} without: ${r.newflow.ratio.toFixed(2)}x`,
    `  new flow, allowed ${f(r.newflowAllowed.nsWith)} ns/packet with policies, ${f(r.newflowAllowed.nsWithout)} without: ${r.newflowAllowed.ratio.toFixed(2)}x`,
    `  fast path (ACK)   ${f(r.fastpath.nsWith)} ns/packet with policies, ${f(r.fastpath.nsWithout)} without: ${r.fastpath.ratio.toFixed(2)}x (target <= 1.5x: ${r.target.met ? 'met' : 'NOT met'})`,
    `  runs (ns/packet)  newflow with ${r.runs.newflowWith.map(f).join(', ')}; without ${r.runs.newflowWithout.map(f).join(', ')}`,
    `                    newflow allowed with ${r.runs.newflowAllowedWith.map(f).join(', ')}; without ${r.runs.newflowAllowedWithout.map(f).join(', ')}`,
    `                    fastpath with ${r.runs.fastpathWith.map(f).join(', ')}; without ${r.runs.fastpathWithout.map(f).join(', ')}`,
  ].join('\n');
}
