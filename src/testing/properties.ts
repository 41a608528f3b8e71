// The properties of DNAT correctness, each a fast-check async property over generated clusters and traffic
// that drives an emulator only through apply / delete / send / advance / counters(), so that any object with
// those methods can be tested (dpemu itself, or dpemu wrapped with a user's own change). A failing case
// throws an error whose message holds the cluster as YAML and the packets as JSON lines, ready for
// `dpemu trace --cluster cluster.yaml --packets packets.jsonl`. Every property also fails when its case
// checked nothing (none may pass vacuously).

import fc from 'fast-check';
import type { Emulator, PacketInput, FlowRecord } from '../api/types.js';
import { KitCluster, KitService, ClusterShape, cluster, manifests, expectedEndpoints, POD_PORT } from './cluster.js';
import { evaluatePolicy } from './policy.js';
import { PropertyFailure, formatCase } from './report.js';

/** What a property needs of an emulator. */
export type EmulatorUnderTest = Pick<Emulator, 'apply' | 'delete' | 'send' | 'advance' | 'counters'>;
export type EmulatorFactory = () => Promise<EmulatorUnderTest>;

export interface PropertyOptions {
  /** The clusters generated (see arbitraries.cluster). */
  cluster?: ClusterShape;
}

/** A run of one case: the packets sent so far (for the report) and the checks made. */
class Case {
  readonly sent: PacketInput[] = [];
  checks = 0;
  private t = 0;
  constructor(readonly emu: EmulatorUnderTest, readonly c: KitCluster) {}
  static async start(factory: EmulatorFactory, c: KitCluster): Promise<Case> {
    const emu = await factory();
    emu.apply(manifests(c), { source: 'cluster.yaml' });
    return new Case(emu, c);
  }
  send(p: PacketInput): FlowRecord {
    const packet = { ...p, t: this.t };
    this.sent.push(packet);
    return this.emu.send(packet)[0];
  }
  advance(seconds: number): void { this.t += seconds; this.emu.advance(seconds); }
  expect(ok: boolean, what: string): void {
    this.checks++;
    if (!ok) throw new PropertyFailure(`${what}\n${formatCase(this.c, this.sent)}`);
  }
  /** Fails when the case checked fewer than `min` things (a property must not pass vacuously). */
  exercised(min: number, what: string): void {
    if (this.checks < min) throw new PropertyFailure(`checked nothing: ${what}\n${formatCase(this.c, this.sent)}`);
  }
}

const clientsOf = (c: KitCluster) => c.pods;

/** The cluster with at least `n` ready pods of Service `s`'s app on every node (added as needed): a case that can show what the property is about. */
function withEndpoints(c: KitCluster, s: KitService, n: number): KitCluster {
  const pods = [...c.pods];
  for (const node of c.nodes) {
    const i = c.nodes.indexOf(node);
    while (pods.filter((p) => p.app === s.app && p.ready && p.node === node.name).length < n) {
      const j = pods.length;
      pods.push({ name: `pod-${j}`, node: node.name, ip: `10.244.${i}.${10 + j}`, app: s.app, ready: true });
    }
  }
  return { ...c, pods };
}
const synOf = (s: KitService) => (s.protocol === 'TCP' ? { flags: 'S' } : {});
const addr = (ip: string, port: number) => `${ip}:${port}`;

/** A pod that has an eligible endpoint of `s` from its node (one exists: every Service's app has a ready pod). */
function goodClient(c: KitCluster, s: KitService) {
  return c.pods.find((p) => expectedEndpoints(c, s, p.node).length > 0)!;
}

/** A connection attempt: client pod index, Service index, source port. */
const attempt = fc.record({ client: fc.nat(), service: fc.nat(), sport: fc.integer({ min: 1024, max: 60000 }) });

function pick<T>(list: readonly T[], i: number): T { return list[i % list.length]; }

/** The first packet of a connection from pod `client` to Service `s` (its cluster IP and port). */
function open(k: Case, clientIp: string, s: KitService, sport: number): FlowRecord {
  return k.send({ src: clientIp, dst: s.clusterIP, sport, dport: s.port, proto: s.protocol, ...synOf(s) });
}

/** 1. A packet to a Service frontend with eligible endpoints is DNAT'd to one of them, on the target port. */
export function dnatToEligibleEndpoint(factory: EmulatorFactory, options: PropertyOptions = {}) {
  return fc.asyncProperty(cluster(options.cluster), fc.array(attempt, { minLength: 1, maxLength: 12 }), async (c, attempts) => {
    const k = await Case.start(factory, c);
    // The first attempt always has an endpoint.
    for (const [i, a] of [{ client: c.pods.indexOf(goodClient(c, c.services[0])), service: 0, sport: 1000 }, ...attempts].entries()) {
      const s = pick(c.services, a.service), client = pick(clientsOf(c), a.client);
      const sport = a.sport + i; // a new connection each time
      const eligible = expectedEndpoints(c, s, client.node);
      const r = open(k, client.ip, s, sport);
      if (eligible.length === 0) {
        k.expect(r.verdict !== 'FORWARDED', `${client.ip} -> ${s.name} has no eligible endpoint, but the packet was forwarded to ${r.dst}:${r.dport}`);
        continue;
      }
      k.expect(r.verdict === 'FORWARDED', `${client.ip} -> ${s.name} (${s.clusterIP}:${s.port}) has eligible endpoints ${eligible.join(', ')}, but the packet was ${r.verdict} (${r.drop_reason})`);
      k.expect(eligible.includes(addr(r.dst, r.dport)), `${client.ip} -> ${s.name} was sent to ${r.dst}:${r.dport}, not one of its eligible endpoints ${eligible.join(', ')} (target port ${POD_PORT[s.protocol].port})`);
    }
    k.exercised(1, 'no packet reached a Service with eligible endpoints');
  });
}

/** 2. Every reply reaches the client from exactly the address and port it sent to. */
export function reverseNat(factory: EmulatorFactory, options: PropertyOptions = {}) {
  return fc.asyncProperty(cluster(options.cluster), fc.array(attempt, { minLength: 1, maxLength: 8 }), async (c, attempts) => {
    const k = await Case.start(factory, c);
    // The first attempt always has an endpoint.
    for (const [i, a] of [{ client: c.pods.indexOf(goodClient(c, c.services[0])), service: 0, sport: 1000 }, ...attempts].entries()) {
      const s = pick(c.services, a.service), client = pick(clientsOf(c), a.client);
      const r = open(k, client.ip, s, a.sport + i);
      if (r.verdict !== 'FORWARDED') continue;
      // The backend answers the packet as it received it.
      const reply = k.send({ src: r.dst, dst: r.src, sport: r.dport, dport: r.sport, proto: s.protocol, ...(s.protocol === 'TCP' ? { flags: 'SA' } : {}) });
      k.expect(reply.verdict === 'FORWARDED', `the reply of ${r.dst}:${r.dport} to ${client.ip} was ${reply.verdict} (${reply.drop_reason})`);
      k.expect(reply.src === s.clusterIP && reply.sport === s.port && reply.dst === client.ip && reply.dport === a.sport + i,
        `the reply reached ${reply.dst}:${reply.dport} from ${reply.src}:${reply.sport}; the client ${client.ip}:${a.sport + i} sent to ${s.clusterIP}:${s.port}`);
    }
    k.exercised(1, 'no connection was forwarded, so no reply was checked');
  });
}

/** 3. All packets of an established flow reach the same backend while it exists. */
export function flowStickiness(factory: EmulatorFactory, options: PropertyOptions = {}) {
  return fc.asyncProperty(cluster(options.cluster), attempt, fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 6 }), async (c, a, gaps) => {
    const k = await Case.start(factory, c);
    const s = pick(c.services, a.service);
    const client = c.pods.find((p) => expectedEndpoints(c, s, p.node).length > 0)!; // exists: every app has a ready pod
    const first = open(k, client.ip, s, a.sport);
    k.expect(first.verdict === 'FORWARDED', `the first packet of ${client.ip}:${a.sport} -> ${s.name} was ${first.verdict}`);
    for (const gap of gaps) {
      k.advance(gap); // well inside every lifetime
      const r = k.send({ src: client.ip, dst: s.clusterIP, sport: a.sport, dport: s.port, proto: s.protocol, ...(s.protocol === 'TCP' ? { flags: 'A' } : {}) });
      k.expect(r.verdict === 'FORWARDED' && r.dst === first.dst && r.dport === first.dport,
        `a packet of the flow ${client.ip}:${a.sport} -> ${s.name} went to ${r.dst}:${r.dport} (${r.verdict}); the flow's backend is ${first.dst}:${first.dport}`);
    }
    k.exercised(2, 'no later packet of a flow was checked');
  });
}

/** 4. ClientIP affinity holds within its timeout: new connections of a client go to the same backend. */
export function clientIpAffinity(factory: EmulatorFactory, options: PropertyOptions = {}) {
  return fc.asyncProperty(cluster(options.cluster), fc.nat(), fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 2, maxLength: 8 }), async (c0, who, gaps) => {
    // The first Service gets affinity and two endpoints per node (affinity only shows with two or more).
    const c = withEndpoints({ ...c0, services: c0.services.map((x, i) => (i === 0 ? { ...x, affinity: 300 } : x)) }, c0.services[0], 2);
    const k = await Case.start(factory, c);
    for (const s of c.services.filter((x) => x.affinity > 0)) {
      const client = pick(c.pods.filter((p) => expectedEndpoints(c, s, p.node).length > 1), who);
      if (!client) continue;
      let backend: string | undefined;
      for (const [i, gap] of gaps.entries()) {
        k.advance(gap); // the gaps stay within the 300 s timeout
        const r = open(k, client.ip, s, 20000 + i);
        if (r.verdict !== 'FORWARDED') continue;
        const b = addr(r.dst, r.dport);
        if (backend !== undefined) k.expect(b === backend, `${client.ip}'s new connection to ${s.name} (ClientIP affinity, ${s.affinity} s) went to ${b}, not to its backend ${backend}`);
        backend = b;
      }
    }
    k.exercised(1, 'no second connection of a client to a Service with affinity');
  });
}

/** Chi-square critical values at significance 0.001, by degrees of freedom (1..15). */
const CHI2_001 = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.7];

/**
 * 5. The backend choice matches the weights (all endpoints weigh the same in Kubernetes): over `connections`
 * new connections (default 600) the counts per endpoint pass a chi-square test of uniformity at significance
 * 0.001 (a correct dataplane fails one run in a thousand).
 */
export function weightedDistribution(factory: EmulatorFactory, options: PropertyOptions & { connections?: number } = {}) {
  const n = options.connections ?? 600;
  const shape = { ...options.cluster, affinity: false, internalLocal: false };
  return fc.asyncProperty(cluster(shape), fc.nat(), async (c0, which) => {
    const c = withEndpoints(c0, pick(c0.services, which), 2); // two endpoints at least: something to distribute
    const k = await Case.start(factory, c);
    const s = pick(c.services, which);
    const client = c.pods[0];
    const eligible = expectedEndpoints(c, s, client.node);
    const counts = new Map(eligible.map((e) => [e, 0]));
    for (let i = 0; i < n; i++) {
      const r = k.emu.send({ src: client.ip, dst: s.clusterIP, sport: 1024 + i, dport: s.port, proto: s.protocol, ...synOf(s) })[0];
      const b = addr(r.dst, r.dport);
      k.expect(counts.has(b), `connection ${i} to ${s.name} went to ${b}, not an endpoint (${eligible.join(', ')})`);
      counts.set(b, counts.get(b)! + 1);
    }
    const expected = n / eligible.length;
    const chi2 = [...counts.values()].reduce((a, o) => a + (o - expected) ** 2 / expected, 0);
    const df = Math.min(eligible.length - 1, CHI2_001.length);
    k.sent.push({ src: client.ip, dst: s.clusterIP, sport: 1024, dport: s.port, proto: s.protocol });
    k.expect(chi2 <= CHI2_001[df - 1], `the ${n} connections to ${s.name} split ${[...counts].map(([e, x]) => `${e}: ${x}`).join(', ')}: chi-square ${chi2.toFixed(1)} > ${CHI2_001[df - 1]} (df ${df}, significance 0.001) against equal weights`);
  });
}

/**
 * 6. Maglev: removing one of N backends moves only that backend's connections, plus at most `maxMoved`
 * (default 0.1) of the others. The emulator must choose by Maglev (a factory with `algo: 'maglev'`).
 */
export function maglevMinimalDisruption(factory: EmulatorFactory, options: PropertyOptions & { maxMoved?: number; connections?: number } = {}) {
  const maxMoved = options.maxMoved ?? 0.1, n = options.connections ?? 300;
  const shape = { ...options.cluster, affinity: false, internalLocal: false, nodePort: false, notReady: false, pods: { min: 3, max: 8 } };
  return fc.asyncProperty(cluster(shape), fc.nat(), async (c0, which) => {
    const c = withEndpoints(c0, pick(c0.services, which), 2);
    const k = await Case.start(factory, c);
    const s = pick(c.services, which);
    const endpoints = c.pods.filter((p) => p.app === s.app);
    const tuples = Array.from({ length: n }, (_, i) => ({ src: `203.0.113.${1 + (i % 250)}`, sport: 1024 + i }));
    const node = c.nodes[0].name;
    const choose = () => tuples.map((t) => {
      const r = k.emu.send({ src: t.src, dst: s.clusterIP, sport: t.sport, dport: s.port, proto: s.protocol, node, ...synOf(s) })[0];
      return r.verdict === 'FORWARDED' ? r.dst : '';
    });
    const before = choose();
    k.advance(600); // every connection expires (none was answered)
    const gone = endpoints[which % endpoints.length];
    k.emu.delete({ kind: 'Pod', namespace: c.namespace, name: gone.name });
    const after = choose();
    let others = 0, moved = 0;
    tuples.forEach((_, i) => {
      if (before[i] === gone.ip) { k.expect(after[i] !== gone.ip, `connection ${i} still goes to the removed endpoint ${gone.ip}`); return; }
      others++;
      if (after[i] !== before[i]) moved++;
    });
    k.exercised(1, 'no connection went to the removed endpoint');
    k.expect(moved <= maxMoved * others, `removing ${gone.ip} of ${endpoints.length} endpoints moved ${moved} of ${others} connections of the other endpoints (more than ${maxMoved * 100}%)`);
  });
}

/**
 * 7. No two live flows share a post-NAT 5-tuple, also when masqueraded sources run out of ports: then the
 * new flow is dropped with a counted reason (NO_MAPPING_FOR_NAT_MASQUERADE), never given a taken tuple.
 * Traffic: outside clients to NodePorts (masqueraded to the node's address), many from the same source port.
 */
export function snatUnique(factory: EmulatorFactory, options: PropertyOptions & { connections?: number } = {}) {
  const n = options.connections ?? 200;
  const shape = { ...options.cluster, nodePort: true, internalLocal: false, affinity: false };
  return fc.asyncProperty(cluster(shape), fc.integer({ min: 1, max: 20 }), async (c0, clients) => {
    // The first Service is a NodePort one: outside clients reach it through every node, masqueraded.
    const c = { ...c0, services: c0.services.map((x, i) => (i === 0 ? { ...x, nodePort: 30000 } : x)) };
    const k = await Case.start(factory, c);
    /** Post-NAT tuple -> the original tuple of the live flow that leaves with it. */
    const tuples = new Map<string, string>();
    let dropped = 0;
    const services = c.services.filter((s) => s.nodePort !== undefined);
    for (let i = 0; i < n && services.length; i++) {
      const s = services[i % services.length], node = c.nodes[i % c.nodes.length];
      const r = k.send({ src: `203.0.113.${1 + (i % clients)}`, dst: node.ip, sport: 40000, dport: s.nodePort!, proto: s.protocol, ...synOf(s) });
      if (r.verdict !== 'FORWARDED') { if (r.drop_reason === 'NO_MAPPING_FOR_NAT_MASQUERADE') dropped++; continue; }
      if (!r.nat.includes('SNAT')) continue;
      const t = `${r.src}:${r.sport}>${r.dst}:${r.dport}/${r.proto}`;
      const original = `${r.in.src}:${r.in.sport}>${r.in.dst}:${r.in.dport}/${r.proto}`;
      const other = tuples.get(t);
      k.expect(other === undefined || other === original, `two live flows leave as ${t}: ${other} and ${original} (packet ${i})`);
      tuples.set(t, original);
    }
    if (dropped > 0) {
      const counted = k.emu.counters().drops.NO_MAPPING_FOR_NAT_MASQUERADE ?? 0;
      k.expect(counted >= dropped, `${dropped} flows were dropped for want of a source port, but the counter says ${counted}`);
    }
    k.exercised(1, 'no flow was masqueraded');
  });
}

/** 8. Policy verdicts equal the specification evaluator's (evaluatePolicy, written from the API docs). */
export function policyMatchesSpec(factory: EmulatorFactory, options: PropertyOptions = {}) {
  const shape = { ...options.cluster, policies: { min: 1, max: 3 }, internalLocal: false };
  return fc.asyncProperty(cluster(shape), fc.array(fc.record({ from: fc.nat(), to: fc.nat(), udp: fc.boolean(), sport: fc.integer({ min: 1024, max: 60000 }) }), { minLength: 1, maxLength: 10 }), async (c0, conns) => {
    const c = withEndpoints(c0, c0.services[0], 1); // a pod on every node: two pods at least when there are two nodes
    const pods = c.pods.length > 1 ? c.pods : [...c.pods, { ...c.pods[0], name: `pod-${c.pods.length}`, ip: c.pods[0].ip.replace(/\d+$/, (d) => String(Number(d) + 100)) }];
    const cc = { ...c, pods };
    const k = await Case.start(factory, cc);
    const objects = manifests(cc);
    for (const [i, x] of conns.entries()) {
      const src = pick(pods, x.from), dst = pick(pods, x.to % pods.length === x.from % pods.length ? x.from + 1 : x.to);
      if (src.ip === dst.ip) continue;
      const proto = x.udp ? 'UDP' : 'TCP', port = POD_PORT[proto].port;
      const r = k.send({ src: src.ip, dst: dst.ip, sport: x.sport + i, dport: port, proto, ...(x.udp ? {} : { flags: 'S' }) });
      const spec = evaluatePolicy(objects, { src: src.ip, dst: dst.ip, protocol: proto, port });
      const allowed = r.verdict === 'FORWARDED';
      k.expect(allowed === spec.allowed, `${src.name} (${src.ip}) -> ${dst.name} (${dst.ip}) ${proto}/${port}: the emulator ${allowed ? 'allowed' : `dropped (${r.drop_reason})`}, the specification ${spec.allowed ? 'allows' : 'denies'} it: ${spec.why}`);
    }
    k.exercised(1, 'no connection between two pods was judged');
  });
}

/** 9. Packets to addresses that are no Service frontend are never rewritten. */
export function nonServiceUntouched(factory: EmulatorFactory, options: PropertyOptions = {}) {
  const shape = { ...options.cluster, policies: { min: 0, max: 0 } };
  return fc.asyncProperty(cluster(shape), fc.array(fc.record({ from: fc.nat(), to: fc.nat(), port: fc.integer({ min: 1, max: 65535 }), udp: fc.boolean() }), { minLength: 1, maxLength: 10 }), async (c, packets) => {
    const k = await Case.start(factory, c);
    for (const [i, x] of packets.entries()) {
      const src = pick(c.pods, x.from);
      // Another pod, or an address outside the cluster.
      const dst = x.to % 3 === 2 ? `198.51.100.${1 + (x.to % 200)}` : pick(c.pods, x.to).ip;
      const proto = x.udp ? 'UDP' : 'TCP';
      const r = k.send({ src: src.ip, dst, sport: 1024 + i, dport: x.port, proto, ...(x.udp ? {} : { flags: 'S' }) });
      if (r.verdict !== 'FORWARDED') continue;
      k.expect(r.src === src.ip && r.sport === 1024 + i && r.dst === dst && r.dport === x.port && r.service === null,
        `${src.ip}:${1024 + i} -> ${dst}:${x.port} (no Service) left as ${r.src}:${r.sport} -> ${r.dst}:${r.dport}`);
    }
    k.exercised(1, 'no packet to a non-service address was forwarded');
  });
}

/**
 * 10. A full conntrack table evicts or drops with a counted reason and never corrupts another live flow:
 * after more new flows than the table holds (`flows`, default 300: give the factory a smaller maxFlows),
 * every earlier flow's next packet either continues it (same backend) or, if it was evicted, starts anew —
 * never continues it at another backend; and the evictions are counted.
 */
export function conntrackFullSafe(factory: EmulatorFactory, options: PropertyOptions & { flows?: number } = {}) {
  const n = options.flows ?? 300;
  const shape = { ...options.cluster, protocols: ['TCP' as const], affinity: false, internalLocal: false, notReady: false };
  return fc.asyncProperty(cluster(shape), fc.nat(), async (c, which) => {
    const k = await Case.start(factory, c);
    const s = pick(c.services, which), client = c.pods[0];
    const first: FlowRecord[] = [];
    for (let i = 0; i < n; i++) first.push(k.emu.send({ src: client.ip, dst: s.clusterIP, sport: 1024 + i, dport: s.port, flags: 'S' })[0]);
    let restarted = 0;
    // Newest first: the flows still in the table are met before the evicted ones come back and evict more.
    for (let i = n - 1; i >= 0; i--) {
      const r = k.emu.send({ src: client.ip, dst: s.clusterIP, sport: 1024 + i, dport: s.port, flags: 'A' })[0];
      if (first[i].verdict !== 'FORWARDED') continue;
      if (r.ct_state === 'NEW') { restarted++; continue; }
      k.expect(r.dst === first[i].dst && r.dport === first[i].dport && r.sport === first[i].sport,
        `flow ${client.ip}:${1024 + i} -> ${s.name} continued at ${r.src}:${r.sport} -> ${r.dst}:${r.dport}; it began at ${first[i].src}:${first[i].sport} -> ${first[i].dst}:${first[i].dport}`);
    }
    k.exercised(2, 'no flow continued after the table filled');
    const counters = k.emu.counters();
    k.sent.push({ src: client.ip, dst: s.clusterIP, sport: 1024, dport: s.port, flags: 'S' });
    k.expect(restarted <= counters.ctEvicted + (counters.drops.CT_MAP_INSERTION_FAILED ?? 0),
      `${restarted} flows had to start anew, but only ${counters.ctEvicted} evictions were counted`);
  });
}
