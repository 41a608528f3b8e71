// Stage-by-stage behaviour on hand-written packets, for each backend: the WASM
// core (release and debug builds) and the reference. What a user of Cilium or
// kube-proxy would expect to see happen to each packet.
import { describe, it, expect } from 'vitest';
import { cluster, tcp, udp, Harness, NODE0, NODE1, CLIENT, CLIENT2, EXTERNAL, POD_A, POD_B, POD_C, VIP, VIP_EMPTY,
  VIP_MASQ, VIP2, BACKEND_A, BACKEND_B, BACKEND_C, IDENT_CLIENT, IDENT_CLIENT2 } from './helpers/fixture.js';
import { TCP, VERDICT, DROP, CT_STATE, NAT, NONE, PROTO, PacketRecord } from '../src/packet.js';
import { DIR, POLICY_VERDICT, IPC_FLAG, SVC_FLAG, DataplaneError } from '../src/dataplane.js';
import { maglevTable, maglevTableSize } from '../src/controlplane/maglev.js';
import { ip } from '../src/common/ip.js';
import type { BackendKind } from '../src/node.js';

const BACKENDS = new Map([[POD_A, BACKEND_A], [POD_B, BACKEND_B], [POD_C, BACKEND_C]]);
const kinds: BackendKind[] = ['wasm', 'reference', 'wasm-debug'];

describe.each(kinds)('%s backend', (kind) => {
  describe('service lookup, DNAT and reverse NAT', () => {
    it('DNATs a new connection to a ClusterIP to one of its backends and its target port', async () => {
      const h = await cluster(kind);
      const r = h.one(1, tcp(CLIENT, VIP, 40000, 80));
      expect(r.verdict).toBe(VERDICT.FORWARDED);
      expect(r.ctState).toBe(CT_STATE.NEW);
      expect(r.natFlags).toBe(NAT.DNAT);
      expect(r.service).toBe(0);
      expect(BACKENDS.get(r.outDaddr)).toBe(r.backend);
      expect(r.outDport).toBe(8080);
      expect([r.outSaddr, r.outSport]).toEqual([CLIENT, 40000]); // pod clients keep their address
    });

    it('reverse-NATs the reply back to the service address and port', async () => {
      const h = await cluster(kind);
      const r = h.one(1, tcp(CLIENT, VIP, 40000, 80));
      const back = h.reply(1, r);
      expect(back).toMatchObject({ verdict: VERDICT.FORWARDED, ctState: CT_STATE.REPLY, natFlags: NAT.REVNAT,
        outSaddr: VIP, outSport: 80, outDaddr: CLIENT, outDport: 40000, service: 0, backend: r.backend });
    });

    it('keeps an established connection on its backend', async () => {
      const h = await cluster(kind);
      const first = h.one(1, tcp(CLIENT, VIP, 40000, 80));
      h.reply(1, first);
      for (let i = 0; i < 20; i++) {
        const r = h.one(2 + i, tcp(CLIENT, VIP, 40000, 80, TCP.ACK));
        expect(r).toMatchObject({ ctState: CT_STATE.ESTABLISHED, outDaddr: first.outDaddr, backend: first.backend });
      }
    });

    it('rejects traffic to a service with no endpoints, as kube-proxy does', async () => {
      const h = await cluster(kind);
      const r = h.one(1, tcp(CLIENT, VIP_EMPTY, 40000, 80));
      expect(r).toMatchObject({ verdict: VERDICT.REJECTED, dropReason: DROP.SERVICE_BACKEND_NOT_FOUND, service: 1, backend: NONE });
      expect(h.dp.ctCount()).toBe(0);
    });

    it('treats TCP, UDP and SCTP on the same port as different services', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP, { algo: 'rr', backends: [BACKEND_C] }, 80, PROTO.UDP);
      expect(h.one(1, udp(CLIENT, VIP, 5353, 80))).toMatchObject({ service: 3, outDaddr: POD_C });
      expect(h.one(1, { ...tcp(CLIENT, VIP, 5353, 80), proto: PROTO.SCTP })).toMatchObject({ service: NONE, outDaddr: VIP });
    });

    it('serves NodePort on every node address and LoadBalancer / external IPs, as frontends of one service', async () => {
      const h = await cluster(kind);
      const LB = ip('172.18.0.100');
      for (const fe of [{ addr: NODE0, port: 30080 }, { addr: NODE1, port: 30080 }, { addr: LB, port: 80 }]) {
        h.dp.upsertFrontend({ ...fe, proto: PROTO.TCP }, 2);
      }
      for (const [dst, port, node] of [[NODE0, 30080, 0], [NODE1, 30080, 1], [LB, 80, 1]] as const) {
        const r = h.one(0, tcp(EXTERNAL, dst, 41000 + node, port, TCP.SYN, node));
        expect(r).toMatchObject({ verdict: VERDICT.FORWARDED, service: 2, outDaddr: POD_B, outDport: 8080 });
        expect(h.reply(0, r, TCP.SYN | TCP.ACK, 1)).toMatchObject({ outSaddr: dst, outSport: port, outDaddr: EXTERNAL });
      }
      expect(h.one(0, tcp(EXTERNAL, NODE0, 41000, 30081)).service).toBe(NONE);
    });

    it('passes non-service traffic unchanged and tracks it', async () => {
      const h = await cluster(kind);
      const r = h.one(1, tcp(CLIENT, POD_B, 40000, 8080));
      expect(r).toMatchObject({ verdict: VERDICT.FORWARDED, natFlags: 0, outDaddr: POD_B, outSaddr: CLIENT, service: NONE, ctState: CT_STATE.NEW });
      expect(h.reply(1, r)).toMatchObject({ ctState: CT_STATE.REPLY, natFlags: 0, outSaddr: POD_B, outDaddr: CLIENT });
    });
  });

  describe('per-node frontends, source ranges, flushes', () => {
    it('a node-scoped entry (a Local traffic policy) serves only the sources of its side on its node', async () => {
      const h = await cluster(kind);
      // Node 1's external entry for VIP_MASQ: only node 1's endpoint, dropped (not rejected) when none.
      h.dp.setService(5, { algo: 'rr', backends: [BACKEND_C], flags: SVC_FLAG.DROP_NO_BACKEND });
      h.dp.upsertFrontend({ addr: VIP_MASQ, port: 80, proto: PROTO.TCP, scope: 'external', node: 1 }, 5);
      h.dp.setService(6, { algo: 'rr', backends: [], flags: SVC_FLAG.DROP_NO_BACKEND });
      h.dp.upsertFrontend({ addr: VIP_MASQ, port: 80, proto: PROTO.TCP, scope: 'external', node: 0 }, 6);
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1000, 80, TCP.SYN, 1))).toMatchObject({ service: 5, outDaddr: POD_C, outSaddr: EXTERNAL });
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1001, 80, TCP.SYN, 0))).toMatchObject({ service: 6, verdict: VERDICT.DROPPED, dropReason: DROP.SERVICE_BACKEND_NOT_FOUND });
      expect(h.one(0, tcp(CLIENT, VIP_MASQ, 1002, 80, TCP.SYN, 0))).toMatchObject({ service: 2, outDaddr: POD_B }); // a pod: the cluster-wide entry
      expect(h.dp.deleteFrontend({ addr: VIP_MASQ, port: 80, proto: PROTO.TCP, scope: 'external', node: 0 })).toBe(true);
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1003, 80, TCP.SYN, 0)).service).toBe(2);
    });

    it('another node\'s address is an external source; only the node the packet enters on is internal', async () => {
      const h = await cluster(kind);
      h.dp.setService(5, { algo: 'rr', backends: [], flags: SVC_FLAG.DROP_NO_BACKEND });
      h.dp.upsertFrontend({ addr: NODE0, port: 30080, proto: PROTO.TCP, scope: 'external', node: 0 }, 5);
      h.dp.upsertFrontend({ addr: NODE0, port: 30080, proto: PROTO.TCP }, 2);
      expect(h.one(0, tcp(NODE1, NODE0, 1000, 30080, TCP.SYN, 0))).toMatchObject({ service: 5, verdict: VERDICT.DROPPED });
      expect(h.one(0, tcp(NODE0, NODE0, 1001, 30080, TCP.SYN, 0))).toMatchObject({ service: 2, verdict: VERDICT.FORWARDED });
    });

    it('loadBalancerSourceRanges: drops sources outside the ranges', async () => {
      const h = await cluster(kind);
      h.dp.setService(2, { algo: 'rr', backends: [BACKEND_B], flags: SVC_FLAG.MASQ_EXTERNAL | SVC_FLAG.SOURCE_RANGES });
      h.dp.upsertSourceRange(2, ip('203.0.113.0'), 24);
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1000, 80, TCP.SYN, 1)).verdict).toBe(VERDICT.FORWARDED);
      expect(h.one(0, tcp(ip('198.51.100.1'), VIP_MASQ, 1000, 80, TCP.SYN, 1))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.NOT_IN_SRC_RANGE });
      expect(h.dp.counters().drops).toEqual({ DENIED_BY_LB_SRC_RANGE_CHECK: 1 });
    });

    it('flushes the UDP flows of a removed backend and leaves its TCP flows (kube-proxy)', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'rr', backends: [BACKEND_A] });
      h.setService(4, VIP2, { algo: 'rr', backends: [BACKEND_A] }, 80, PROTO.UDP);
      h.send(0, tcp(CLIENT, VIP2, 1000, 80), udp(CLIENT, VIP2, 1000, 80));
      expect(h.dp.flushBackend(BACKEND_A, PROTO.UDP)).toBe(1);
      expect(h.dp.ctCount()).toBe(1);
      expect(h.dp.backendActive(BACKEND_A)).toBe(1);
      expect(h.one(1, tcp(CLIENT, VIP2, 1000, 80, TCP.ACK)).ctState).toBe(CT_STATE.ESTABLISHED);
    });
  });

  describe('conntrack', () => {
    it('forgets a half-open connection after the SYN timeout (60 s), not before', async () => {
      const h = await cluster(kind);
      h.one(0, tcp(CLIENT, POD_B, 40000, 8080));
      expect(h.one(59, tcp(CLIENT, POD_B, 40000, 8080, TCP.SYN)).ctState).toBe(CT_STATE.ESTABLISHED);
      expect(h.one(119.5, tcp(CLIENT, POD_B, 40000, 8080, TCP.SYN)).ctState).toBe(CT_STATE.NEW);
    });

    it('keeps an established TCP connection for 6 hours of silence', async () => {
      const h = await cluster(kind);
      const r = h.one(0, tcp(CLIENT, POD_B, 40000, 8080));
      h.reply(0, r); h.one(0, tcp(CLIENT, POD_B, 40000, 8080, TCP.ACK));
      expect(h.one(21599, tcp(CLIENT, POD_B, 40000, 8080, TCP.ACK)).ctState).toBe(CT_STATE.ESTABLISHED);
      expect(h.one(21599 + 21600, tcp(CLIENT, POD_B, 40000, 8080, TCP.ACK)).ctState).toBe(CT_STATE.NEW);
    });

    it('closes after FIN both ways with the 10 s close timeout', async () => {
      const h = await cluster(kind);
      const r = h.one(0, tcp(CLIENT, VIP, 40000, 80));
      h.reply(0, r); h.one(0, tcp(CLIENT, VIP, 40000, 80, TCP.ACK));
      h.one(1, tcp(CLIENT, VIP, 40000, 80, TCP.FIN | TCP.ACK));
      expect(h.flow(r)?.expires).toBe(1000 + 21600_000); // one side closing: still established lifetime
      h.reply(1, r, TCP.FIN | TCP.ACK);
      expect(h.flow(r)?.expires).toBe(11_000);
      expect(h.one(10.9, tcp(CLIENT, VIP, 40000, 80, TCP.ACK)).ctState).toBe(CT_STATE.ESTABLISHED);
      expect(h.one(21, tcp(CLIENT, VIP, 40000, 80, TCP.ACK)).ctState).toBe(CT_STATE.NEW);
    });

    it('closes on RST from either side', async () => {
      const h = await cluster(kind);
      const r = h.one(0, tcp(CLIENT, POD_B, 40000, 8080));
      h.reply(0, r, TCP.RST);
      expect(h.dp.flow(CLIENT, POD_B, 40000, 8080, PROTO.TCP, 0)?.expires).toBe(10_000);
    });

    it('re-opens a closing connection on a new SYN, keeping its backend', async () => {
      const h = await cluster(kind);
      const r = h.one(0, tcp(CLIENT, VIP, 40000, 80));
      h.one(1, tcp(CLIENT, VIP, 40000, 80, TCP.RST));
      const again = h.one(2, tcp(CLIENT, VIP, 40000, 80, TCP.SYN));
      expect(again).toMatchObject({ ctState: CT_STATE.REOPENED, outDaddr: r.outDaddr });
    });

    it('gives UDP the 60 s non-TCP lifetime, refreshed by either direction', async () => {
      const h = await cluster(kind);
      const r = h.one(0, udp(CLIENT, VIP, 5000, 80));
      h.reply(50, r, 0);
      expect(h.one(109, udp(CLIENT, VIP, 5000, 80)).ctState).toBe(CT_STATE.ESTABLISHED);
      expect(h.one(170, udp(CLIENT, VIP, 5000, 80)).ctState).toBe(CT_STATE.NEW);
    });

    it('counts packets and bytes per direction of a flow', async () => {
      const h = await cluster(kind);
      const r = h.one(0, tcp(CLIENT, POD_B, 40000, 8080));
      h.one(0, tcp(CLIENT, POD_B, 40000, 8080, TCP.ACK));
      h.reply(0, r);
      expect(h.dp.flow(CLIENT, POD_B, 40000, 8080, PROTO.TCP, 0)).toMatchObject({ packets: 2, bytes: 120 });
    });

    it('garbage-collects expired flows and counts them', async () => {
      const h = await cluster(kind);
      h.send(0, udp(CLIENT, POD_B, 1, 53), udp(CLIENT, POD_B, 2, 53), tcp(CLIENT, POD_B, 3, 80));
      h.reply(0, h.one(0, tcp(CLIENT, POD_B, 3, 80, TCP.ACK)));
      // POD_B lives on node 1: each flow is tracked on the client's node and on POD_B's (each node's conntrack
      // holds the connections crossing it, as Cilium's per-node CT map does), so every flow is two entries.
      expect(h.dp.gc(59_000)).toBe(0);
      expect(h.dp.gc(60_000)).toBe(4);
      expect(h.dp.ctCount()).toBe(2);
      expect(h.dp.counters().ctExpired).toBe(4);
    });

    it('evicts the oldest unreferenced flow when the table is full, and counts it', async () => {
      // POD_A shares the client's node 0: one conntrack entry per flow (a flow to another node's pod takes one there too).
      const h = await cluster(kind, { maxFlows: 3 });
      h.send(0, udp(CLIENT, POD_A, 1, 53), udp(CLIENT, POD_A, 2, 53), udp(CLIENT, POD_A, 3, 53));
      h.one(1, udp(CLIENT, POD_A, 1, 53)); // flow 1 is in use: second chance
      h.one(1, udp(CLIENT, POD_A, 4, 53));
      expect(h.dp.ctCount()).toBe(3);
      expect(h.dp.counters().ctEvicted).toBe(1);
      expect(h.dp.flow(CLIENT, POD_A, 2, 53, PROTO.UDP, 1000)).toBeUndefined();
      expect(h.dp.flow(CLIENT, POD_A, 1, 53, PROTO.UDP, 1000)).toBeDefined();
    });
  });

  describe('masquerade and source ports', () => {
    it('masquerades hairpin traffic (a pod reaching itself through its service) to the node address', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'rr', backends: [BACKEND_A] });
      const r = h.one(0, tcp(POD_A, VIP2, 40000, 80));
      expect(r).toMatchObject({ outSaddr: NODE0, outDaddr: POD_A, natFlags: NAT.DNAT | NAT.SNAT | NAT.HAIRPIN });
      expect(r.outSport).toBeGreaterThanOrEqual(32768);
      expect(h.reply(0, r)).toMatchObject({ outSaddr: VIP2, outSport: 80, outDaddr: POD_A, outDport: 40000, ctState: CT_STATE.REPLY });
    });

    it('masquerades sources outside the pod network when the service asks, and only those', async () => {
      const h = await cluster(kind);
      const ext = h.one(0, tcp(EXTERNAL, VIP_MASQ, 40000, 80, TCP.SYN, 1));
      expect(ext).toMatchObject({ outSaddr: NODE1, outDaddr: POD_B, natFlags: NAT.DNAT | NAT.SNAT });
      expect(h.reply(0, ext, TCP.SYN | TCP.ACK, 1)).toMatchObject({ outSaddr: VIP_MASQ, outDaddr: EXTERNAL, outDport: 40000 });
      expect(h.one(0, tcp(CLIENT, VIP_MASQ, 40000, 80))).toMatchObject({ outSaddr: CLIENT, natFlags: NAT.DNAT });
    });

    it('never lets two live flows leave with the same 5-tuple', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'rr', backends: [BACKEND_B] });
      const a = h.one(0, tcp(CLIENT, VIP_MASQ, 5000, 80)); // -> POD_B:8080 from CLIENT:5000
      const b = h.one(0, tcp(CLIENT, VIP2, 5000, 80));     // same backend, same client port: must be re-ported
      expect([a.outSaddr, a.outSport, a.outDaddr, a.outDport]).toEqual([CLIENT, 5000, POD_B, 8080]);
      expect(b.outSport).not.toBe(5000);
      expect(b.natFlags & NAT.SNAT).toBeTruthy();
      expect(h.reply(0, a)).toMatchObject({ outSaddr: VIP_MASQ, outDport: 5000 });
      expect(h.reply(0, b)).toMatchObject({ outSaddr: VIP2, outDport: 5000 });
    });

    it('drops with NO_MAPPING_FOR_NAT_MASQUERADE when every source port is taken', async () => {
      const h = await cluster(kind, { natPorts: { min: 40000, max: 40000, tries: 1 } });
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1000, 80, TCP.SYN, 1)).verdict).toBe(VERDICT.FORWARDED);
      expect(h.one(0, tcp(EXTERNAL, VIP_MASQ, 1001, 80, TCP.SYN, 1))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.NAT_NO_MAPPING });
      expect(h.dp.counters().drops).toEqual({ NO_MAPPING_FOR_NAT_MASQUERADE: 1 });
    });
  });

  describe('endpoint selection', () => {
    const spread = (rs: PacketRecord[]) => new Set(rs.map((r) => r.backend)).size;

    it('random: spreads new connections over every backend', async () => {
      const h = await cluster(kind);
      const rs = Array.from({ length: 60 }, (_, i) => h.one(0, tcp(CLIENT, VIP, 1000 + i, 80)));
      expect(spread(rs)).toBe(3);
    });

    it('rr: takes backends in turn', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'rr', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
      const order = Array.from({ length: 6 }, (_, i) => h.one(0, tcp(CLIENT, VIP2, 1000 + i, 80)).backend);
      expect(order).toEqual([0, 1, 2, 0, 1, 2]);
    });

    it('lc: sends a new connection to the backend with the fewest live flows', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'lc', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
      const order = Array.from({ length: 3 }, (_, i) => h.one(0, tcp(CLIENT, VIP2, 1000 + i, 80)).backend);
      expect(order).toEqual([0, 1, 2]);
      h.one(1, tcp(CLIENT, VIP2, 1001, 80, TCP.RST)); // B's flow closes (10 s)...
      h.dp.gc(12_000);                                 // ...and is collected
      expect(h.dp.backendActive(BACKEND_B)).toBe(0);
      expect(h.one(12, tcp(CLIENT, VIP2, 2000, 80)).backend).toBe(BACKEND_B);
    });

    it('sh: the same client always lands on the same backend', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'sh', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
      const bs = Array.from({ length: 10 }, (_, i) => h.one(0, tcp(CLIENT, VIP2, 1000 + i, 80)).backend);
      expect(new Set(bs).size).toBe(1);
    });

    it('weighted: never picks a backend of weight 0, favours heavier ones', async () => {
      const h = await cluster(kind);
      h.dp.setBackend(BACKEND_A, { addr: POD_A, port: 8080, node: 0, weight: 0 });
      h.dp.setBackend(BACKEND_B, { addr: POD_B, port: 8080, node: 1, weight: 1 });
      h.dp.setBackend(BACKEND_C, { addr: POD_C, port: 8080, node: 1, weight: 4 });
      h.setService(3, VIP2, { algo: 'weighted', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
      const bs = Array.from({ length: 400 }, (_, i) => h.one(0, tcp(CLIENT, VIP2, 1000 + i, 80)).backend);
      expect(bs.filter((b) => b === BACKEND_A)).toHaveLength(0);
      const c = bs.filter((b) => b === BACKEND_C).length;
      expect(c / bs.length).toBeGreaterThan(0.7);
      expect(c / bs.length).toBeLessThan(0.9);
    });

    it('maglev: the same 5-tuple picks the same backend even with fresh state, and only its table decides', async () => {
      const keys = [POD_A, POD_B, POD_C].map((a, i) => ({ key: `${a}:8080`, i }));
      const table = maglevTable(keys, maglevTableSize(3));
      const pick = async (sport: number) => {
        const h = await cluster(kind);
        h.setService(3, VIP2, { algo: 'maglev', backends: [BACKEND_A, BACKEND_B, BACKEND_C], maglev: table });
        return h.one(0, tcp(CLIENT, VIP2, sport, 80)).backend;
      };
      const first = await Promise.all([1000, 1001, 1002, 1003, 1004, 1005].map(pick));
      const again = await Promise.all([1000, 1001, 1002, 1003, 1004, 1005].map(pick));
      expect(again).toEqual(first);
      expect(new Set(first).size).toBeGreaterThan(1);
    });

    it('ClientIP affinity: a client keeps its backend until the timeout, then may move', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'random', backends: [BACKEND_A, BACKEND_B, BACKEND_C], affinityTimeout: 100 });
      const first = h.one(0, tcp(CLIENT, VIP2, 1000, 80));
      for (let i = 1; i < 30; i++) {
        const r = h.one(i, tcp(CLIENT, VIP2, 1000 + i, 80));
        expect(r.backend).toBe(first.backend);
        expect(r.natFlags & NAT.AFFINITY).toBeTruthy();
      }
      // 100 s after the last use, the choice is free again: over many clients' worth of tries, it moves.
      const later = Array.from({ length: 30 }, (_, i) => h.one(129 + 101 * (i + 1), tcp(CLIENT, VIP2, 5000 + i, 80)));
      expect(later.some((r) => (r.natFlags & NAT.AFFINITY) === 0)).toBe(true);
      expect(spread(later)).toBeGreaterThan(1);
    });

    it('ClientIP affinity: a backend removed from the service is not reused', async () => {
      const h = await cluster(kind);
      h.setService(3, VIP2, { algo: 'rr', backends: [BACKEND_A, BACKEND_B], affinityTimeout: 10800 });
      expect(h.one(0, tcp(CLIENT, VIP2, 1000, 80)).backend).toBe(BACKEND_A);
      h.dp.setService(3, { algo: 'rr', backends: [BACKEND_B], affinityTimeout: 10800 });
      expect(h.one(1, tcp(CLIENT, VIP2, 1001, 80)).backend).toBe(BACKEND_B);
    });
  });

  describe('policy hook', () => {
    const enforceIngress = (h: Harness, addr: number, endpoint: number, node: number) =>
      h.dp.upsertIpcache(addr, 32, { identity: 1000, endpoint, node, flags: IPC_FLAG.POD | IPC_FLAG.ENFORCE_INGRESS });

    it('allows everything when no policy is loaded', async () => {
      const h = await cluster(kind);
      expect(h.one(0, tcp(CLIENT, POD_B, 1000, 9999)).verdict).toBe(VERDICT.FORWARDED);
      expect(h.dp.counters().policyLookups).toBe(0);
    });

    it('an isolated endpoint allows what a rule allows, names the rule, and drops the rest', async () => {
      const h = await cluster(kind);
      enforceIngress(h, POD_B, 11, 1);
      h.dp.upsertPolicy({ endpoint: 11, identity: IDENT_CLIENT, port: 8080, proto: PROTO.TCP, dir: DIR.INGRESS }, { rule: 42, verdict: POLICY_VERDICT.ALLOW });
      expect(h.one(0, tcp(CLIENT, POD_B, 1000, 8080))).toMatchObject({ verdict: VERDICT.FORWARDED, policyRule: 42 });
      expect(h.one(0, tcp(CLIENT2, POD_B, 1000, 8080))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.POLICY_DENIED });
      expect(h.one(0, tcp(CLIENT, POD_B, 1000, 9090))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.POLICY_DENIED });
    });

    it('checks service traffic against the backend after DNAT, and lets replies through', async () => {
      const h = await cluster(kind);
      enforceIngress(h, POD_B, 11, 1);
      h.dp.upsertPolicy({ endpoint: 11, identity: IDENT_CLIENT, port: 8080, proto: PROTO.TCP, dir: DIR.INGRESS }, { rule: 7, verdict: POLICY_VERDICT.ALLOW });
      const ok = h.one(0, tcp(CLIENT, VIP_MASQ, 1000, 80));
      expect(ok).toMatchObject({ verdict: VERDICT.FORWARDED, outDaddr: POD_B, policyRule: 7 });
      expect(h.reply(0, ok).verdict).toBe(VERDICT.FORWARDED);
      expect(h.one(0, tcp(CLIENT2, VIP_MASQ, 1000, 80)).dropReason).toBe(DROP.POLICY_DENIED);
    });

    it('the most specific entry decides: a deny for one peer over an allow for any', async () => {
      const h = await cluster(kind);
      enforceIngress(h, POD_B, 11, 1);
      h.dp.upsertPolicy({ endpoint: 11, identity: 0, port: 0, proto: 0, dir: DIR.INGRESS }, { rule: 1, verdict: POLICY_VERDICT.ALLOW });
      h.dp.upsertPolicy({ endpoint: 11, identity: IDENT_CLIENT2, port: 0, proto: 0, dir: DIR.INGRESS }, { rule: 2, verdict: POLICY_VERDICT.DENY });
      expect(h.one(0, tcp(CLIENT, POD_B, 1000, 8080))).toMatchObject({ verdict: VERDICT.FORWARDED, policyRule: 1 });
      expect(h.one(0, tcp(CLIENT2, POD_B, 1000, 8080))).toMatchObject({ dropReason: DROP.POLICY_DENY, policyRule: 2 });
    });

    it('lets the pod\'s own node in, whatever the policy', async () => {
      const h = await cluster(kind);
      enforceIngress(h, POD_B, 11, 1);
      expect(h.one(0, tcp(NODE1, POD_B, 1000, 8080, TCP.SYN, 1)).verdict).toBe(VERDICT.FORWARDED);
      expect(h.one(0, tcp(NODE0, POD_B, 1000, 8080)).dropReason).toBe(DROP.POLICY_DENIED);
    });

    it('checks egress of an isolated client against the destination identity', async () => {
      const h = await cluster(kind);
      h.dp.upsertIpcache(CLIENT, 32, { identity: IDENT_CLIENT, endpoint: 1, node: 0, flags: IPC_FLAG.POD | IPC_FLAG.ENFORCE_EGRESS });
      h.dp.upsertPolicy({ endpoint: 1, identity: 1000, port: 8080, proto: PROTO.TCP, dir: DIR.EGRESS }, { rule: 9, verdict: POLICY_VERDICT.ALLOW });
      expect(h.one(0, tcp(CLIENT, VIP, 1000, 80))).toMatchObject({ verdict: VERDICT.FORWARDED, policyRule: 9 });
      expect(h.one(0, tcp(CLIENT, EXTERNAL, 1000, 443)).dropReason).toBe(DROP.POLICY_DENIED);
    });

    it('re-judges established flows after a policy change (Cilium), unless the knob says not to', async () => {
      for (const recheck of [true, false]) {
        const h = await cluster(kind, { policyRecheckEstablished: recheck });
        const r = h.one(0, tcp(CLIENT, POD_B, 1000, 8080));
        h.reply(0, r);
        enforceIngress(h, POD_B, 11, 1);
        h.dp.policyChanged();
        const after = h.one(1, tcp(CLIENT, POD_B, 1000, 8080, TCP.ACK));
        expect(after.verdict).toBe(recheck ? VERDICT.DROPPED : VERDICT.FORWARDED);
      }
    });
  });

  describe('malformed packets and bad input', () => {
    it('drops malformed packets with a reason and counts them', async () => {
      const h = await cluster(kind);
      const rs = h.send(0,
        { ...tcp(CLIENT, VIP, 1000, 80), proto: 99 },
        tcp(0, VIP, 1000, 80),
        tcp(ip('224.0.0.5'), VIP, 1000, 80),
        tcp(CLIENT, 0, 1000, 80),
        tcp(CLIENT, VIP, 0, 80),
        tcp(CLIENT, VIP, 1000, 80, TCP.SYN, 9),
      );
      expect(rs.map((r) => [r.verdict, r.dropReason])).toEqual([
        [VERDICT.DROPPED, DROP.UNKNOWN_L4_PROTOCOL], [VERDICT.DROPPED, DROP.INVALID_SOURCE_IP],
        [VERDICT.DROPPED, DROP.INVALID_SOURCE_IP], [VERDICT.DROPPED, DROP.INVALID_PACKET],
        [VERDICT.DROPPED, DROP.INVALID_PACKET], [VERDICT.DROPPED, DROP.INVALID_PACKET],
      ]);
      expect(h.dp.counters()).toMatchObject({ verdicts: { FORWARDED: 0, DROPPED: 6, REJECTED: 0 },
        drops: { UNKNOWN_L4_PROTOCOL: 1, INVALID_SOURCE_IP: 2, INVALID_PACKET_DROPPED: 3 } });
      expect(h.dp.ctCount()).toBe(0);
    });

    it('refuses bad control-plane input with a message naming it, and keeps what was loaded', async () => {
      const h = await cluster(kind);
      expect(() => h.dp.setService(0, { algo: 'random', backends: [0, 99] })).toThrow(/service 0: backend 99/);
      expect(() => h.dp.setService(0, { algo: 'bogus' as 'random', backends: [] })).toThrow(DataplaneError);
      expect(() => h.dp.upsertFrontend({ addr: VIP, port: 80, proto: PROTO.ICMP }, 0)).toThrow(/protocol 1/);
      expect(() => h.dp.setBackend(0, { addr: POD_A, port: 0, node: 0 })).toThrow(/backend 0: port 0/);
      expect(() => h.one(-1, tcp(CLIENT, VIP, 1000, 80))).toThrow(/virtual time/);
      // The service loaded before the refusals still works, with its three backends.
      expect(h.one(0, tcp(CLIENT, VIP, 1000, 80))).toMatchObject({ verdict: VERDICT.FORWARDED, service: 0 });
    });

    it('refuses to overfill a table with a clear message', async () => {
      const h = await cluster(kind, { maxFrontends: 3 });
      expect(() => h.dp.upsertFrontend({ addr: VIP2, port: 80, proto: PROTO.TCP }, 0)).toThrow(/frontends: table full \(3 entries\)/);
      expect(h.one(0, tcp(CLIENT, VIP, 1000, 80)).verdict).toBe(VERDICT.FORWARDED);
    });
  });

  it('keeps batches usable when linear memory grows under them', async () => {
    const h = await cluster(kind);
    const small = h.dp.allocBatch(4);
    small.set(0, tcp(CLIENT, VIP, 1000, 80));
    h.dp.allocBatch(1 << 18); // 12 MiB more: the wasm memory grows, its old ArrayBuffer is detached
    h.dp.process(small, 1, 0);
    expect(small.get(0)).toMatchObject({ verdict: VERDICT.FORWARDED, service: 0, saddr: CLIENT });
  });

  it('is deterministic: the same inputs give the same bytes', async () => {
    const run = async () => {
      const h = await cluster(kind, { seed: 42 });
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        const r = h.one(i, tcp(CLIENT, VIP, 1000 + i, 80));
        out.push(r.outDaddr, r.outSport, r.backend);
      }
      return out;
    };
    expect(await run()).toEqual(await run());
  });
});

// Helpers for the assertions above.
declare module './helpers/fixture.js' {
  interface Harness { flow(r: PacketRecord): ReturnType<Harness['dp']['flow']> }
}
Harness.prototype.flow = function (this: Harness, r: PacketRecord) {
  return this.dp.flow(r.saddr, r.daddr, r.sport, r.dport, r.proto, 0);
};
void SVC_FLAG; void IDENT_CLIENT2;
