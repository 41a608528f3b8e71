// The ten properties of the kit. Each takes a factory of fresh emulators and returns a fast-check async
// property; it drives the emulator only through apply, delete, send, advance and counters, so any object
// with those methods can be tested. Each case must exercise its rule (a case the generator made without
// anything to check is discarded with fc.pre, and fast-check fails a run where too many are): a property
// cannot pass by checking nothing. A broken rule throws PropertyFailure, whose message holds the shrunk
// cluster as YAML and the packets as JSON lines for `dpemu trace`.
import fc from 'fast-check';
import type { FlowRecord, PacketInput } from '../api/types.js';
import * as arb from './arbitraries.js';
import { clusterManifests, externalClient, sliceManifests, servicePortLabel } from './cluster.js';
import type { GenCluster, GenService } from './cluster.js';
import { eligibleFor, targetsOf, type Target } from './eligibility.js';
import { PropertyFailure, Recording, type TestedEmulator } from './report.js';
import { evaluatePolicy } from './policy.js';

/** Makes a fresh emulator for each generated case. */
export type EmulatorFactory = () => Promise<TestedEmulator> | TestedEmulator;

/** What a property checked over all its runs (pass the same object to read it after fc.assert). */
export interface PropertyStats {
  cases: number; checks: number;
  /** snatUnique: new flows dropped for want of a masquerade port (counted by the emulator). */
  drops?: number;
}

export interface PropertyOptions {
  /** Totals of what was checked, accumulated over the runs. */
  stats?: PropertyStats;
  /** Least number of checks a case must make to count (default 1); cases with fewer are discarded. */
  minChecks?: number;
}

type Check = (ok: boolean, what: () => string) => void;

/** Run one case: a recording emulator, the cluster applied, and a check that fails with the counterexample. */
async function withCase<T>(factory: EmulatorFactory, c: GenCluster, options: PropertyOptions, body: (em: Recording, check: Check) => T): Promise<T> {
  const em = new Recording(await factory());
  em.apply(clusterManifests(c));
  const check: Check = (ok, what) => { if (!ok) throw new PropertyFailure(what(), em); };
  return body(em, check);
}

function counted(options: PropertyOptions, checks: number): void {
  fc.pre(checks >= (options.minChecks ?? 1));
  if (options.stats) { options.stats.cases++; options.stats.checks += checks; }
}

const isTcp = (t: Target) => t.port.protocol === 'TCP';

/** A new flow's first packet through a target, from a client that may use it. */
function firstPacket(c: GenCluster, t: Target, client: number, sport: number): PacketInput | undefined {
  let src: string;
  if (t.kind === 'ClusterIP') {
    const pods = c.pods.filter((p) => p.name.startsWith('client-') && p.node === t.node);
    if (pods.length === 0) return undefined;
    src = pods[client % pods.length].ip;
  } else {
    src = externalClient(client % 8);
  }
  const p: PacketInput = { src, dst: t.dst, sport, dport: t.dport, proto: t.port.protocol };
  if (isTcp(t)) p.flags = 'S';
  if (t.kind !== 'ClusterIP') p.node = t.node;
  return p;
}

/** The reply a backend sends to a forwarded packet. */
function replyTo(r: FlowRecord, flags = 'SA'): PacketInput {
  const p: PacketInput = { src: r.dst, sport: r.dport, dst: r.src, dport: r.sport, proto: r.proto };
  if (r.proto === 'TCP') p.flags = flags;
  return p;
}

const show = (r: FlowRecord) => `${r.verdict}${r.drop_reason ? ` (${r.drop_reason})` : ''} ${r.in.src}:${r.in.sport} -> ${r.in.dst}:${r.in.dport} left as ${r.src}:${r.sport} -> ${r.dst}:${r.dport}`;

/** Flows drawn as (target, client) indices into the cluster's targets; targets with eligible endpoints come first. */
const flowChoice = fc.record({ target: fc.nat({ max: 1000 }), client: fc.nat({ max: 1000 }), eligible: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }) });
type FlowChoice = { target: number; client: number; eligible: boolean };

/** The packets of the chosen flows, each with its target and the endpoints it may reach. */
function chooseFlows(c: GenCluster, choices: FlowChoice[], sportBase = 20000) {
  const all = targetsOf(c);
  const out: { target: Target; packet: PacketInput; expected: string[] }[] = [];
  choices.forEach((ch, i) => {
    const withPacket = all.map((t) => ({ t, p: firstPacket(c, t, ch.client, sportBase + i) })).filter((x) => x.p !== undefined);
    const eligible = withPacket.filter((x) => eligibleFor(c, x.t, x.p!.src).length > 0);
    const pool = ch.eligible && eligible.length ? eligible : withPacket;
    if (pool.length === 0) return;
    const { t, p } = pool[ch.target % pool.length];
    out.push({ target: t, packet: p!, expected: eligibleFor(c, t, p!.src) });
  });
  return out;
}

// --------------------------------------------------------------------------------------------- 1

/**
 * A packet to a service frontend (cluster IP from a pod; node port, load-balancer IP and external IP from
 * outside, entering on each node) is DNAT'd to one of the endpoints kube-proxy would use for it — ready
 * ones, else serving terminating ones; the node's own under a Local traffic policy; those hinted for the
 * node's zone when all are hinted; none for sources outside loadBalancerSourceRanges — on the port the
 * EndpointSlice resolves the target port to. With no eligible endpoint it is not DNAT'd to anything.
 */
export function dnatToEligibleEndpoint(factory: EmulatorFactory, options: PropertyOptions & { cluster?: arb.ClusterConstraints } = {}) {
  return fc.asyncProperty(arb.cluster(options.cluster), fc.array(flowChoice, { minLength: 1, maxLength: 10 }), async (c, choices) => {
    const flows = chooseFlows(c, choices);
    let checks = 0;
    await withCase(factory, c, options, (em, check) => {
      for (const f of flows) {
        const r = em.one(f.packet);
        if (f.expected.length) {
          checks++;
          check(r.verdict === 'FORWARDED' && f.expected.includes(`${r.dst}:${r.dport}`),
            () => `${servicePortLabel(f.target.service, f.target.port)} via ${f.target.kind} on ${f.target.node}: expected DNAT to one of ${f.expected.join(', ')}; got ${show(r)}`);
        } else {
          check(!(r.verdict === 'FORWARDED' && r.dst !== f.packet.dst),
            () => `${servicePortLabel(f.target.service, f.target.port)} via ${f.target.kind} on ${f.target.node}: no endpoint is eligible, yet ${show(r)}`);
        }
      }
    });
    counted(options, checks);
  });
}

// --------------------------------------------------------------------------------------------- 2

/** Every reply of a DNAT'd flow (SYN-ACK, UDP answer) reaches the client from exactly the address and port it sent to, addressed to its own address and port. */
export function reverseNat(factory: EmulatorFactory, options: PropertyOptions & { cluster?: arb.ClusterConstraints } = {}) {
  return fc.asyncProperty(arb.cluster(options.cluster), fc.array(flowChoice, { minLength: 1, maxLength: 8 }), async (c, choices) => {
    const flows = chooseFlows(c, choices).filter((f) => f.expected.length > 0);
    let checks = 0;
    await withCase(factory, c, options, (em, check) => {
      const sent = flows.map((f) => ({ f, r: em.one(f.packet) }));
      for (const { f, r } of sent) {
        check(r.verdict === 'FORWARDED', () => `expected the first packet forwarded; got ${show(r)}`);
        const back = em.one(replyTo(r));
        checks++;
        check(back.verdict === 'FORWARDED' && back.src === f.packet.dst && back.sport === f.packet.dport && back.dst === f.packet.src && back.dport === f.packet.sport,
          () => `the reply to ${f.packet.src}:${f.packet.sport} -> ${f.packet.dst}:${f.packet.dport} should come from ${f.packet.dst}:${f.packet.dport} to ${f.packet.src}:${f.packet.sport}; got ${show(back)}`);
      }
    });
    counted(options, checks);
  });
}

// --------------------------------------------------------------------------------------------- 3

/**
 * All packets of an established TCP flow (ACKs, data, retransmitted SYNs, FIN, RST; its replies too) reach
 * the backend its first packet reached, while that backend exists, through time steps within the
 * lifetimes and endpoint changes of the same and other services (endpoints added, others removed or
 * turned terminating).
 */
export function flowStickiness(factory: EmulatorFactory, options: PropertyOptions & { cluster?: arb.ClusterConstraints } = {}) {
  const flows = fc.array(fc.record({ choice: flowChoice, life: arb.tcpLifecycle(5) }), { minLength: 1, maxLength: 4 });
  return fc.asyncProperty(arb.cluster({ protocols: ['TCP'], minEndpoints: 1, ...options.cluster }), flows, fc.array(arb.endpointChange(), { maxLength: 3 }), async (generated, fls, changes) => {
    const c = structuredClone(generated); // the changes edit it
    const chosen = chooseFlows(c, fls.map((f) => ({ ...f.choice, eligible: true }))).map((f, i) => ({ ...f, life: fls[i].life }))
      .filter((f) => f.expected.length > 0);
    let checks = 0;
    await withCase(factory, c, options, (em, check) => {
      const live = chosen.map((f) => {
        const r = em.one(f.packet);
        check(r.verdict === 'FORWARDED' && f.expected.includes(`${r.dst}:${r.dport}`), () => `expected the SYN DNAT'd to one of ${f.expected.join(', ')}; got ${show(r)}`);
        return { f, first: r, step: 0, backend: `${r.dst}:${r.dport}` };
      });
      const pending = [...changes];
      for (let round = 0; live.some((l) => l.step < l.f.life.length); round++) {
        for (const l of live) {
          const s = l.f.life[l.step++];
          if (!s) continue;
          if (s.kind === 'wait') { em.advance(Math.min(s.seconds, 10)); continue; }
          if (s.kind === 'synAck' || s.kind === 'reply') {
            const back = em.one(replyTo(l.first, s.kind === 'synAck' ? 'SA' : 'PA'));
            check(back.verdict === 'FORWARDED' && back.src === l.f.packet.dst, () => `a reply of the flow to ${l.backend} did not come back from ${l.f.packet.dst}: ${show(back)}`);
            continue;
          }
          const flags = s.kind === 'retransmitSyn' ? 'S' : s.kind === 'fin' ? 'FA' : s.kind === 'rst' ? 'R' : s.kind === 'ack' ? 'A' : 'PA';
          const r = em.one({ ...l.f.packet, flags });
          checks++;
          check(r.verdict === 'FORWARDED' && `${r.dst}:${r.dport}` === l.backend,
            () => `packet ${l.step} (${flags}) of the flow ${l.f.packet.src}:${l.f.packet.sport} -> ${l.f.packet.dst}:${l.f.packet.dport} left its backend ${l.backend}: ${show(r)}`);
        }
        const ch = pending.shift();
        if (ch) {
          const keep = new Set(live.map((l) => l.first.dst));
          const changed = arb.applyEndpointChange(c, ch, keep);
          if (changed) em.apply([...(changed.pod ? [podOf(c, changed.pod.name)] : []), ...sliceManifests(changed.service)]);
        }
      }
    });
    counted(options, checks);
  });
}

const podOf = (c: GenCluster, name: string) => clusterManifests({ ...c, nodes: [], namespaces: [], services: [], policies: [], pods: c.pods.filter((p) => p.name === name) })[0];

// --------------------------------------------------------------------------------------------- 4

/**
 * ClientIP affinity: new connections of one client to one ServicePort with sessionAffinity ClientIP reach
 * the backend its previous connection reached, while less than timeoutSeconds have passed since (each
 * ServicePort has its own affinity, on each node apart: kube-proxy's `recent` lists live in each node's
 * kernel). Services with two or more ready endpoints; new flows 0..20 s apart.
 */
export function clientIpAffinity(factory: EmulatorFactory, options: PropertyOptions & { cluster?: arb.ClusterConstraints } = {}) {
  const requests = fc.array(fc.record({ choice: flowChoice, gap: fc.integer({ min: 0, max: 20 }) }), { minLength: 2, maxLength: 12 });
  return fc.asyncProperty(arb.cluster({ affinity: 'always', minEndpoints: 2, conditions: 'ready', trafficPolicies: 'cluster', extras: false, ...options.cluster }), requests, async (c, reqs) => {
    const flows = chooseFlows(c, reqs.map((r) => ({ ...r.choice, eligible: true }))).filter((f) => f.expected.length >= 2);
    let checks = 0;
    await withCase(factory, c, options, (em, check) => {
      const last = new Map<string, string>();
      const lastUse = new Map<string, number>();
      let now = 0;
      flows.forEach((f, i) => {
        const gap = reqs[i]?.gap ?? 0;
        em.advance(gap);
        now += gap;
        const r = em.one(f.packet);
        const key = `${f.packet.src} ${servicePortLabel(f.target.service, f.target.port)} on ${r.node}`;
        const got = `${r.dst}:${r.dport}`;
        const before = last.get(key);
        // Within the timeout since this client last used this ServicePort (kube-proxy's `recent --seconds`).
        if (before !== undefined && now - lastUse.get(key)! < f.target.service.affinityTimeout!) {
          checks++;
          check(r.verdict === 'FORWARDED' && got === before,
            () => `client ${f.packet.src} of ${servicePortLabel(f.target.service, f.target.port)} (ClientIP affinity, timeout ${f.target.service.affinityTimeout} s) went to ${before} last time, now ${show(r)}`);
        }
        last.set(key, got);
        lastUse.set(key, now);
      });
    });
    counted(options, checks);
  });
}

// --------------------------------------------------------------------------------------------- 5

/** z-scores of the upper tail of the normal distribution, for the significances the kit states. */
const Z: Record<string, number> = { '0.05': 1.6449, '0.01': 2.3263, '0.001': 3.0902, '0.0001': 3.719, '0.00001': 4.2649, '0.000001': 4.7534 };

/** The chi-square critical value at significance `alpha` with `df` degrees of freedom (Wilson–Hilferty; slightly conservative for df = 1). */
export function chiSquareCritical(df: number, alpha: number): number {
  const z = Z[String(alpha)];
  if (z === undefined) throw new RangeError(`significance ${alpha}: use one of ${Object.keys(Z).join(', ')}`);
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * Note that a run of N cases at significance α fails by chance with probability about N·α: keep N·α small
 * (the defaults, 0.001 and the dozens of cases a test runs, give a few percent at most; a run of thousands
 * of cases wants 1e-6).
 *
 * Over many new flows from many clients to one ClusterIP service with 2..5 ready endpoints, the number of
 * flows each endpoint gets matches its weight (`weights`, default equal, as kube-proxy's random choice):
 * the chi-square statistic stays under its critical value at `significance` (default 0.001).
 */
export function weightedDistribution(factory: EmulatorFactory, options: PropertyOptions & {
  flows?: number; significance?: number; weights?: (endpoint: string) => number;
} = {}) {
  const flows = options.flows ?? 400, alpha = options.significance ?? 0.001;
  return fc.asyncProperty(arb.cluster({ maxServices: 1, types: ['ClusterIP'], minEndpoints: 2, conditions: 'ready', trafficPolicies: 'cluster', affinity: 'never', extras: false }), async (c) => {
    const s = c.services[0], port = s.ports[0];
    const endpoints = s.endpoints.map((e) => `${e.address}:${port.endpointPort}`);
    const counts = new Map(endpoints.map((e) => [e, 0]));
    await withCase(factory, c, options, (em, check) => {
      const clients = c.pods.filter((p) => p.name.startsWith('client-'));
      for (let i = 0; i < flows; i++) {
        const p: PacketInput = { src: clients[i % clients.length].ip, dst: s.clusterIP, sport: 10000 + i, dport: port.port, proto: port.protocol };
        if (port.protocol === 'TCP') p.flags = 'S';
        const r = em.one(p);
        const got = `${r.dst}:${r.dport}`;
        check(r.verdict === 'FORWARDED' && counts.has(got), () => `expected DNAT to one of ${endpoints.join(', ')}; got ${show(r)}`);
        counts.set(got, counts.get(got)! + 1);
      }
      const w = endpoints.map((e) => options.weights?.(e) ?? 1);
      const total = w.reduce((a, b) => a + b, 0);
      const live = endpoints.filter((_, i) => w[i] > 0);
      let chi = 0;
      endpoints.forEach((e, i) => {
        const expected = flows * w[i] / total;
        if (expected > 0) chi += (counts.get(e)! - expected) ** 2 / expected;
        else check(counts.get(e) === 0, () => `${e} has weight 0 but got ${counts.get(e)} flows`);
      });
      const critical = chiSquareCritical(Math.max(1, live.length - 1), alpha);
      check(chi <= critical, () => `flows per endpoint ${endpoints.map((e, i) => `${e}: ${counts.get(e)} (expected ${(flows * w[i] / total).toFixed(1)})`).join(', ')}: chi-square ${chi.toFixed(2)} > ${critical.toFixed(2)} (df ${live.length - 1}, significance ${alpha})`);
    });
    counted(options, flows);
  });
}

// --------------------------------------------------------------------------------------------- 6

/**
 * Maglev: new flows to a ClusterIP service with 3..8 ready endpoints are spread; after one endpoint is
 * removed and the old flows have expired, the same 5-tuples come back: those of the removed endpoint move,
 * and of the others at most `fraction` (default 0.1) move. Needs an emulator whose services use Maglev.
 */
export function maglevMinimalDisruption(factory: EmulatorFactory, options: PropertyOptions & { flows?: number; fraction?: number } = {}) {
  const flows = options.flows ?? 300, fraction = options.fraction ?? 0.1;
  return fc.asyncProperty(arb.cluster({ maxServices: 1, types: ['ClusterIP'], minEndpoints: 3, maxEndpoints: 8, conditions: 'ready', trafficPolicies: 'cluster', affinity: 'never', extras: false, protocols: ['TCP'] }),
    fc.nat({ max: 7 }), async (generated, victimIndex) => {
      const c = structuredClone(generated); // the removal edits it
      const s = c.services[0], port = s.ports[0];
      let others = 0;
      await withCase(factory, c, options, (em, check) => {
        const clients = c.pods.filter((p) => p.name.startsWith('client-'));
        const packets: PacketInput[] = Array.from({ length: flows }, (_, i) => ({ src: clients[i % clients.length].ip, dst: s.clusterIP, sport: 10000 + i, dport: port.port, proto: 'TCP', flags: 'S' }));
        const before = packets.map((p) => em.one(p));
        const victim = s.endpoints[victimIndex % s.endpoints.length];
        const gone = `${victim.address}:${port.endpointPort}`;
        const next: GenService = { ...s, endpoints: s.endpoints.filter((e) => e !== victim) };
        c.services[0] = next;
        em.apply(sliceManifests(next));
        em.advance(7 * 3600); // past every conntrack lifetime: the flows come back as new ones
        let moved = 0;
        packets.forEach((p, i) => {
          const r = em.one(p);
          const was = `${before[i].dst}:${before[i].dport}`, now = `${r.dst}:${r.dport}`;
          check(r.verdict === 'FORWARDED' && now !== gone, () => `after ${gone} was removed, ${show(r)}`);
          if (was !== gone) { others++; if (now !== was) moved++; }
        });
        check(moved <= fraction * others, () => `removing ${gone} of ${s.endpoints.length} endpoints moved ${moved} of the ${others} flows of the other endpoints (more than ${fraction})`);
      });
      counted(options, others);
    });
}

// --------------------------------------------------------------------------------------------- 7

/**
 * Masquerade: many external clients, their source ports colliding, open flows to a NodePort service
 * (externalTrafficPolicy Cluster) with 1..2 endpoints; no two live flows leave with the same 5-tuple, and a
 * flow that finds no free port is dropped with a reason that the counters count (`stats.drops` adds them
 * up: with an emulator made with a small masquerade port range, a test can require some).
 */
export function snatUnique(factory: EmulatorFactory, options: PropertyOptions & { flows?: number } = {}) {
  const flowsArb = fc.uniqueArray(fc.record({ client: fc.nat({ max: 3 }), sport: fc.integer({ min: 1024, max: 1027 }), node: fc.nat({ max: 2 }) }),
    { minLength: 2, maxLength: options.flows ?? 24, selector: (f) => `${f.client} ${f.sport} ${f.node}` });
  return fc.asyncProperty(arb.cluster({ maxServices: 1, types: ['NodePort'], minEndpoints: 1, maxEndpoints: 2, conditions: 'ready', trafficPolicies: 'cluster', affinity: 'never', extras: false }), flowsArb, async (c, fls) => {
    const s = c.services[0], port = s.ports[0];
    let checks = 0, drops = 0;
    await withCase(factory, c, options, (em, check) => {
      const seen = new Map<string, string>();
      const before = em.counters();
      const opened = new Set<string>();
      for (const f of fls) {
        const n = c.nodes[f.node % c.nodes.length];
        const p: PacketInput = { src: externalClient(f.client), sport: f.sport, dst: n.address, dport: port.nodePort!, proto: port.protocol, node: n.name };
        const key = `${p.src}:${p.sport} ${p.dst}`;
        if (opened.has(key)) continue; // the same flow again: not a new one
        opened.add(key);
        if (port.protocol === 'TCP') p.flags = 'S';
        const r = em.one(p);
        if (r.verdict !== 'FORWARDED') {
          check(r.drop_reason !== null, () => `a new flow was dropped without a reason: ${show(r)}`);
          drops++;
          continue;
        }
        const tuple = `${r.proto} ${r.src}:${r.sport} -> ${r.dst}:${r.dport}`;
        const other = seen.get(tuple);
        check(other === undefined, () => `two live flows leave as ${tuple}: ${other} and ${p.src}:${p.sport}`);
        seen.set(tuple, `${p.src}:${p.sport}`);
        if (r.src !== p.src) checks++;
      }
      const after = em.counters();
      const droppedCount = Object.values(after.drops).reduce((a, b) => a + b, 0) - Object.values(before.drops).reduce((a, b) => a + b, 0);
      check(droppedCount >= drops, () => `${drops} flows were dropped but the counters count ${droppedCount} drops`);
    });
    counted(options, checks);
    if (options.stats) options.stats.drops = (options.stats.drops ?? 0) + drops;
  });
}

// --------------------------------------------------------------------------------------------- 8

/**
 * Policy: the first packet of a connection between pods (or from or to outside) is forwarded exactly when
 * the spec evaluator (`evaluatePolicy`, written from the NetworkPolicy and AdminNetworkPolicy API
 * documentation) allows it, and a denied one is dropped with a policy reason. Cases count the
 * connections some policy selects.
 */
export function policyMatchesSpec(factory: EmulatorFactory, options: PropertyOptions = {}) {
  return fc.asyncProperty(arb.policyCluster(), fc.array(arb.connection(), { minLength: 1, maxLength: 10 }), async (c, conns) => {
    let checks = 0;
    const manifests = clusterManifests(c);
    await withCase(factory, c, options, (em, check) => {
      conns.forEach((k, i) => {
        const src = k.src === 'external' ? externalClient(7) : c.pods[k.src % c.pods.length];
        // Outside to outside is no cluster's business: such a connection goes to the first pod instead.
        const dst = k.dst !== 'external' ? c.pods[k.dst % c.pods.length] : k.src === 'external' ? c.pods[0] : undefined;
        const srcIp = typeof src === 'string' ? src : src.ip;
        const dstIp = dst ? dst.ip : '198.51.100.200';
        const p: PacketInput = { src: srcIp, dst: dstIp, sport: 20000 + i, dport: k.port, proto: k.protocol };
        if (k.protocol === 'TCP') p.flags = 'S';
        if (typeof src === 'string') p.node = dst!.node;
        const d = evaluatePolicy(manifests, { src: srcIp, dst: dstIp, protocol: k.protocol, port: k.port });
        if (d.egress?.enforced || d.ingress?.enforced) checks++;
        const r = em.one(p);
        const why = [d.egress && `egress: ${d.egress.explanation}`, d.ingress && `ingress: ${d.ingress.explanation}`].filter(Boolean).join('; ');
        check((r.verdict === 'FORWARDED') === d.allowed && (d.allowed || /POLICY/.test(r.drop_reason ?? '')),
          () => `${k.protocol} ${srcIp} -> ${dstIp}:${k.port}: the spec says ${d.allowed ? 'allowed' : 'denied'} (${why}); got ${show(r)}`);
      });
    });
    counted(options, checks);
  });
}

// --------------------------------------------------------------------------------------------- 9

/**
 * Packets that are no service's business (pod to pod directly, pod to a node, pod to the outside world,
 * outside to a pod or to a node port no service uses) are forwarded unchanged: same addresses, same
 * ports, no NAT. Clusters without policies.
 */
export function nonServiceUntouched(factory: EmulatorFactory, options: PropertyOptions = {}) {
  const pkt = fc.record({
    kind: fc.constantFrom('podToPod', 'podToNode', 'podToOutside', 'outsideToPod', 'outsideToNode'),
    a: fc.nat({ max: 30 }), b: fc.nat({ max: 30 }), dport: fc.constantFrom(22, 53, 80, 443, 8080, 9100, 29999), proto: fc.constantFrom('TCP', 'UDP'),
  });
  return fc.asyncProperty(arb.cluster({ extras: false }), fc.array(pkt, { minLength: 1, maxLength: 10 }), async (c, pkts) => {
    let checks = 0;
    await withCase(factory, c, options, (em, check) => {
      pkts.forEach((k, i) => {
        const pod = (j: number) => c.pods[j % c.pods.length], nd = (j: number) => c.nodes[j % c.nodes.length];
        const outside = externalClient(k.a % 8);
        const [src, dst, node] = k.kind === 'podToPod' ? [pod(k.a).ip, pod(k.b).ip, undefined]
          : k.kind === 'podToNode' ? [pod(k.a).ip, nd(k.b).address, undefined]
          : k.kind === 'podToOutside' ? [pod(k.a).ip, '8.8.8.8', undefined]
          : k.kind === 'outsideToPod' ? [outside, pod(k.b).ip, pod(k.b).node]
          : [outside, nd(k.b).address, nd(k.b).name];
        const p: PacketInput = { src, dst, sport: 20000 + i, dport: k.dport, proto: k.proto };
        if (k.proto === 'TCP') p.flags = 'S';
        if (node) p.node = node;
        const r = em.one(p);
        checks++;
        check(r.verdict === 'FORWARDED' && r.src === src && r.sport === p.sport && r.dst === dst && r.dport === p.dport,
          () => `a packet to no service frontend must pass unchanged; got ${show(r)}`);
      });
    });
    counted(options, checks);
  });
}

// --------------------------------------------------------------------------------------------- 10

/**
 * A full conntrack table: more flows than it holds are opened to a ClusterIP service with 2..4 ready
 * endpoints, then every flow sends an ACK in a random order. A flow conntrack still knows (ESTABLISHED)
 * reaches its own backend — never another flow's; a flow that was evicted starts again (NEW) or is dropped
 * with a reason; and the counters show that the table did fill up (evictions or counted drops), else the
 * case checked nothing. `flows` (default 200) must exceed the emulator's conntrack capacity.
 */
export function conntrackFullSafe(factory: EmulatorFactory, options: PropertyOptions & { flows?: number } = {}) {
  const flows = options.flows ?? 200;
  return fc.asyncProperty(arb.cluster({ maxServices: 1, types: ['ClusterIP'], minEndpoints: 2, maxEndpoints: 4, conditions: 'ready', trafficPolicies: 'cluster', affinity: 'never', extras: false, protocols: ['TCP'] }),
    fc.array(fc.nat({ max: flows - 1 }), { minLength: 1, maxLength: 8 }), async (c, swaps) => {
      const s = c.services[0], port = s.ports[0];
      let checks = 0;
      await withCase(factory, c, options, (em, check) => {
        const clients = c.pods.filter((p) => p.name.startsWith('client-'));
        const before = em.counters();
        const packets: PacketInput[] = Array.from({ length: flows }, (_, i) => ({ src: clients[i % clients.length].ip, dst: s.clusterIP, sport: 10000 + i, dport: port.port, proto: 'TCP', flags: 'S' }));
        const first = packets.map((p) => em.one(p));
        const order = packets.map((_, i) => i);
        swaps.forEach((j, i) => { const k = i % flows; [order[k], order[j]] = [order[j], order[k]]; });
        for (const i of order) {
          const r = em.one({ ...packets[i], flags: 'A' });
          const mine = `${first[i].dst}:${first[i].dport}`;
          if (r.verdict !== 'FORWARDED') { check(r.drop_reason !== null, () => `dropped without a reason: ${show(r)}`); continue; }
          if (r.ct_state === 'ESTABLISHED' && first[i].verdict === 'FORWARDED') {
            checks++;
            check(`${r.dst}:${r.dport}` === mine, () => `flow ${packets[i].src}:${packets[i].sport} went to ${mine} and now, still ESTABLISHED, to ${r.dst}:${r.dport}: another flow's entry`);
          }
        }
        const after = em.counters();
        const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
        const pressure = after.ctEvicted - before.ctEvicted + sum(after.drops) - sum(before.drops);
        check(pressure > 0, () => `${flows} flows neither evicted nor dropped anything: make the emulator's conntrack table smaller than ${flows} flows`);
      });
      counted(options, checks);
    });
}

export const properties = {
  dnatToEligibleEndpoint, reverseNat, flowStickiness, clientIpAffinity, weightedDistribution,
  maglevMinimalDisruption, snatUnique, policyMatchesSpec, nonServiceUntouched, conntrackFullSafe,
};
