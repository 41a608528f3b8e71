// Generators and the lockstep runner of the differential tests (test/differential.test.ts,
// test/designs.test.ts): random clusters and random traffic (new flows, replies, FIN/RST,
// hairpin, external clients, malformed packets, expiry, GC, policy and service changes, full
// tables) through the WASM core and the reference backend, checked record by record.
import fc from 'fast-check';
import { synthesize, limitsFor, program, SyntheticCluster } from '../../src/controlplane/synthetic.js';
import { IPC_FLAG, DIR, POLICY_VERDICT, SVC_FLAG, Options, Design } from '../../src/dataplane.js';
import { PacketIn, PacketRecord, TCP, PROTO } from '../../src/packet.js';
import { maglevTable, maglevTableSize } from '../../src/controlplane/maglev.js';
import { pair, both, step, sameState, Pair } from './lockstep.js';

const flagsArb = fc.constantFrom(TCP.SYN, TCP.ACK, TCP.SYN | TCP.ACK, TCP.FIN | TCP.ACK, TCP.RST, TCP.PSH | TCP.ACK, 0);

export type Event =
  | { kind: 'new'; client: number; service: number; sport: number; flags: number }
  | { kind: 'reply'; of: number; flags: number }
  | { kind: 'again'; of: number; flags: number }
  | { kind: 'direct'; client: number; backend: number; sport: number; proto: number }
  | { kind: 'hairpin'; backend: number; service: number; sport: number }
  | { kind: 'external'; host: number; service: number; sport: number; node: number; nodePort: boolean }
  | { kind: 'malformed'; variant: number }
  | { kind: 'advance'; seconds: number }
  | { kind: 'gc' }
  | { kind: 'policy'; backend: number; identity: number; port: number; deny: boolean; enforce: boolean }
  | { kind: 'reshuffle'; service: number; drop: number }
  | { kind: 'local'; service: number; node: number; internal: boolean }
  | { kind: 'ranges'; service: number; host: number; plen: number }
  | { kind: 'flush'; backend: number; proto: number };

export const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('new' as const), client: fc.nat(15), service: fc.nat(15), sport: fc.integer({ min: 1000, max: 1006 }), flags: flagsArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reply' as const), of: fc.nat(), flags: flagsArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('again' as const), of: fc.nat(), flags: flagsArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('direct' as const), client: fc.nat(15), backend: fc.nat(63), sport: fc.integer({ min: 1000, max: 1003 }), proto: fc.constantFrom(PROTO.TCP, PROTO.UDP, PROTO.ICMP) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hairpin' as const), backend: fc.nat(63), service: fc.nat(15), sport: fc.integer({ min: 1000, max: 1003 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('external' as const), host: fc.nat(3), service: fc.nat(15), sport: fc.integer({ min: 1000, max: 1003 }), node: fc.nat(3), nodePort: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('malformed' as const), variant: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.constantFrom(0.5, 1, 5, 11, 30, 61, 3600) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gc' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('policy' as const), backend: fc.nat(63), identity: fc.constantFrom(0, 5000, 5001, 5002, 1), port: fc.constantFrom(0, 8080, 80), deny: fc.boolean(), enforce: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reshuffle' as const), service: fc.nat(15), drop: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('local' as const), service: fc.nat(15), node: fc.nat(3), internal: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ranges' as const), service: fc.nat(15), host: fc.nat(3), plen: fc.constantFrom(0, 8, 24, 32) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), backend: fc.nat(63), proto: fc.constantFrom(0, PROTO.UDP, PROTO.TCP) }) },
);

export const scenarioArb = fc.record({
  nodes: fc.integer({ min: 1, max: 3 }),
  services: fc.integer({ min: 1, max: 6 }),
  backends: fc.integer({ min: 0, max: 4 }),
  clients: fc.integer({ min: 1, max: 6 }),
  algo: fc.constantFrom('mix' as const, 'random' as const, 'maglev' as const, 'rr' as const, 'lc' as const, 'weighted' as const, 'sh' as const),
  affinityFraction: fc.constantFrom(0, 0.5, 1),
  masqueradeFraction: fc.constantFrom(0, 0.5, 1),
  emptyFraction: fc.constantFrom(0, 0.3),
  udp: fc.boolean(),
  seed: fc.nat(),
  maxFlows: fc.integer({ min: 2, max: 40 }),
  maxAffinity: fc.integer({ min: 1, max: 8 }),
  natTries: fc.integer({ min: 1, max: 4 }),
  recheck: fc.boolean(),
  events: fc.array(eventArb, { minLength: 10, maxLength: 300, size: 'large' }),
  batchSizes: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 8 }),
});

export type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

const EXTERNAL = [0xcb007101, 0xcb007102, 0xc6336401, 0x08080808]; // 203.0.113.1, .2, 198.51.100.1, 8.8.8.8

/** One scenario through both backends of `design` (test/designs.test.ts runs the other designs); the cluster too. */
/**
 * How a scenario runs: `shards` of per-node state (default 1), and the pair compared (default the core against the
 * reference; test/workers.test.ts compares one worker against several).
 */
export interface RunHow { shards?: number; pair?: (options: Options, batchSize: number) => Promise<Pair> }

export async function run(s: Scenario, design: Design = 'ebpf', how: RunHow = {}): Promise<{ p: Pair; cluster: SyntheticCluster }> {
  const c: SyntheticCluster = synthesize({
    nodes: s.nodes, services: s.services, backends: s.backends, clients: s.clients, design,
    algo: design === 'ebpf' ? s.algo : 'mix',
    affinityFraction: s.affinityFraction, masqueradeFraction: s.masqueradeFraction, emptyFraction: s.emptyFraction,
    protocols: s.udp ? [PROTO.TCP, PROTO.UDP, PROTO.SCTP] : [PROTO.TCP], seed: s.seed,
  });
  const options: Options = {
    ...limitsFor(c, 0), maxFrontends: c.services.length * (c.nodes.length + 1) * 3 + 16, maxFlows: s.maxFlows,
    maxServices: c.services.length * 8 + 8, maxSlots: Math.max(1, c.backends.length) * 10 + 16,
    maxMaglevCells: limitsFor(c, 0).maxMaglevCells * 8 + 1024, maxAffinity: s.maxAffinity, maxPolicy: 256, seed: s.seed,
    hashSeed: s.seed ^ 0x1234, policyRecheckEstablished: s.recheck,
    natPorts: { min: 40000, max: 40000 + s.natTries, tries: s.natTries },
    ctLifetimes: { tcp: 120, syn: 20, close: 10, nonTcp: 60 }, design, shards: how.shards ?? 1,
  };
  const p: Pair = await (how.pair ?? pair)(options, Math.max(8, ...s.batchSizes));
  both(p, (dp) => program(dp, c));
  // NodePorts: every service also listens on every node address at 30000 + index.
  both(p, (dp) => c.services.forEach((svc) => c.nodes.forEach((n) => dp.upsertFrontend({ addr: n.addr, port: 30000 + svc.index, proto: svc.proto }, svc.index))));

  let now = 1000;
  const history: PacketRecord[] = [];
  let pending: PacketIn[] = [];
  let batchIdx = 0;
  let extraIndex = 0;
  const flush = () => {
    if (pending.length === 0) return;
    history.push(...step(p, pending, now, `event batch ${batchIdx}`));
    pending = [];
  };
  const push = (pk: PacketIn) => {
    pending.push(pk);
    if (pending.length >= s.batchSizes[batchIdx % s.batchSizes.length]) { flush(); batchIdx++; }
  };
  const svcOf = (i: number) => c.services[i % c.services.length];
  const backendPod = (i: number) => c.backendPods.length ? c.backendPods[i % c.backendPods.length] : c.clients[0];

  for (const e of s.events) {
    switch (e.kind) {
      case 'new': {
        const cl = c.clients[e.client % c.clients.length], svc = svcOf(e.service);
        push({ saddr: cl.addr, daddr: svc.vip, sport: e.sport, dport: svc.port, proto: svc.proto, tcpFlags: e.flags, node: cl.node, len: 60 + e.sport % 7 });
        break;
      }
      case 'reply': case 'again': {
        flush();
        if (history.length === 0) break;
        const h = history[e.of % history.length];
        const proto = h.proto;
        if (e.kind === 'reply') {
          const node = c.backendPods.find((b) => b.addr === h.outDaddr)?.node ?? h.node;
          push({ saddr: h.outDaddr, daddr: h.outSaddr, sport: h.outDport, dport: h.outSport, proto, tcpFlags: proto === 6 ? e.flags : 0, node, len: 1500 });
        } else {
          push({ saddr: h.saddr, daddr: h.daddr, sport: h.sport, dport: h.dport, proto, tcpFlags: proto === 6 ? e.flags : 0, node: h.node, len: 100 });
        }
        break;
      }
      case 'direct': {
        const cl = c.clients[e.client % c.clients.length], b = backendPod(e.backend);
        push({ saddr: cl.addr, daddr: b.addr, sport: e.sport, dport: 8080, proto: e.proto, tcpFlags: e.proto === 6 ? TCP.SYN : 0, node: cl.node });
        break;
      }
      case 'hairpin': {
        const b = backendPod(e.backend), svc = svcOf(e.service);
        push({ saddr: b.addr, daddr: svc.vip, sport: e.sport, dport: svc.port, proto: svc.proto, tcpFlags: TCP.SYN, node: b.node });
        break;
      }
      case 'external': {
        const svc = svcOf(e.service), n = c.nodes[e.node % c.nodes.length];
        push({ saddr: EXTERNAL[e.host], daddr: e.nodePort ? n.addr : svc.vip, sport: e.sport, dport: e.nodePort ? 30000 + svc.index : svc.port, proto: svc.proto, tcpFlags: TCP.SYN, node: n.id });
        break;
      }
      case 'malformed': {
        const cl = c.clients[0], svc = svcOf(0);
        const base = { saddr: cl.addr, daddr: svc.vip, sport: 1000, dport: svc.port, proto: svc.proto, node: cl.node };
        const bad: PacketIn[] = [
          { ...base, proto: 99 }, { ...base, saddr: 0 }, { ...base, saddr: 0xffffffff }, { ...base, daddr: 0 },
          { ...base, sport: 0 }, { ...base, node: 200 },
        ];
        push(bad[e.variant % bad.length]);
        break;
      }
      case 'advance': flush(); now += e.seconds * 1000; break;
      case 'gc': flush(); { const a = p.wasm.gc(now), b = p.ref.gc(now); if (a !== b) throw new Error(`gc removed ${a} (wasm) vs ${b} (reference)`); } break;
      case 'policy': {
        flush();
        const b = backendPod(e.backend);
        both(p, (dp) => {
          dp.upsertIpcache(b.addr, 32, { identity: b.identity, endpoint: b.endpoint, node: b.node, flags: IPC_FLAG.POD | (e.enforce ? IPC_FLAG.ENFORCE_INGRESS : 0) });
          dp.upsertPolicy({ endpoint: b.endpoint, identity: e.identity, port: e.port, proto: e.port ? PROTO.TCP : 0, dir: DIR.INGRESS },
            { rule: 1 + e.port + e.identity, verdict: e.deny ? POLICY_VERDICT.DENY : POLICY_VERDICT.ALLOW });
          dp.policyChanged();
        });
        break;
      }
      case 'local': {
        // What a Local traffic policy programs on one node: a scoped entry to a service of that node's endpoints.
        // It shares the service's ClientIP affinity (kube-proxy: one affinity list per endpoint of the service port).
        flush();
        const svc = svcOf(e.service), n = c.nodes[e.node % c.nodes.length];
        const local = svc.backends.filter((id) => c.backends[id].node === n.id);
        const index = c.services.length + (extraIndex++ % (c.services.length * 7));
        const maglev = svc.algo === 'maglev' && local.length
          ? maglevTable(local.map((id) => ({ key: `${c.backends[id].addr}:${c.backends[id].port}` })), maglevTableSize(local.length)) : undefined;
        both(p, (dp) => {
          dp.setService(index, { algo: svc.algo, flags: SVC_FLAG.DROP_NO_BACKEND, affinityTimeout: svc.affinityTimeout, affinityGroup: svc.index, backends: local, maglev });
          const scope = e.internal ? 'internal' as const : 'external' as const;
          dp.upsertFrontend({ addr: svc.vip, port: svc.port, proto: svc.proto, scope, node: n.id }, index);
          dp.upsertFrontend({ addr: n.addr, port: 30000 + svc.index, proto: svc.proto, scope, node: n.id }, index);
        });
        break;
      }
      case 'ranges': {
        flush();
        const svc = svcOf(e.service);
        both(p, (dp) => {
          dp.setService(svc.index, { algo: svc.algo, flags: svc.flags | SVC_FLAG.SOURCE_RANGES, affinityTimeout: svc.affinityTimeout, backends: svc.backends,
            maglev: svc.algo === 'maglev' && svc.backends.length ? maglevTable(svc.backends.map((id) => ({ key: `${c.backends[id].addr}:${c.backends[id].port}` })), maglevTableSize(svc.backends.length)) : undefined });
          dp.upsertSourceRange(svc.index, EXTERNAL[e.host], e.plen);
        });
        svc.flags |= SVC_FLAG.SOURCE_RANGES;
        break;
      }
      case 'flush': {
        flush();
        const a = p.wasm.flushBackend(e.backend % Math.max(1, c.backends.length), e.proto);
        const b = p.ref.flushBackend(e.backend % Math.max(1, c.backends.length), e.proto);
        if (a !== b) throw new Error(`flushBackend removed ${a} (wasm) vs ${b} (reference)`);
        break;
      }
      case 'reshuffle': {
        flush();
        const svc = svcOf(e.service);
        const kept = svc.backends.filter((_, i) => i !== e.drop % Math.max(1, svc.backends.length));
        const maglev = svc.algo === 'maglev' && kept.length
          ? maglevTable(kept.map((id) => ({ key: `${c.backends[id].addr}:${c.backends[id].port}` })), maglevTableSize(kept.length)) : undefined;
        both(p, (dp) => dp.setService(svc.index, { algo: svc.algo, flags: svc.flags, affinityTimeout: svc.affinityTimeout, backends: kept, maglev }));
        svc.backends = kept;
        break;
      }
    }
  }
  flush();
  sameState(p, now);
  for (const b of c.backends) {
    if (p.wasm.backendActive(b.id) !== p.ref.backendActive(b.id)) throw new Error(`backend ${b.id} active flows differ`);
    if (p.wasm.backendInactive(b.id) !== p.ref.backendInactive(b.id)) throw new Error(`backend ${b.id} inactive flows differ`);
  }
  return { p, cluster: c };
}

