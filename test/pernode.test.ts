// Per-node dataplane state, on each backend: every node has its own conntrack, NAT source ports and ClientIP
// affinity, and a packet leaving toward another node's pod is processed again there (a second hop), where
// replies meet the conntrack entry of the node that NATed them. What a user of a multi-node cluster sees.
import { describe, it, expect } from 'vitest';
import { createDataplane } from '../src/node.js';
import { Harness, cluster, tcp, CLIENT, EXTERNAL, POD_A, POD_B, POD_C, VIP, VIP2, BACKEND_A, BACKEND_B, BACKEND_C, NODE0, NODE1 } from './helpers/fixture.js';
import { TCP, VERDICT, CT_STATE, NAT, NONE, NODE_NONE, PROTO } from '../src/packet.js';
import { SVC_FLAG } from '../src/dataplane.js';
import type { BackendKind } from '../src/node.js';

const kinds: BackendKind[] = ['wasm', 'reference'];

describe.each(kinds)('per-node state (%s backend)', (kind) => {
  it('keeps ClientIP affinity per node: a client entering two nodes is remembered on each apart', async () => {
    const h = await cluster(kind, { seed: 7 });
    // kube-proxy's `recent` lists live in each node's kernel: the choice made on one node is unknown on another.
    h.setService(3, VIP2, { algo: 'random', backends: [BACKEND_A, BACKEND_B, BACKEND_C], affinityTimeout: 600 });
    const clients = Array.from({ length: 24 }, (_, i) => (EXTERNAL + i) >>> 0);
    let differs = 0;
    for (const c of clients) {
      const on0 = h.one(1, tcp(c, VIP2, 1000, 80, TCP.SYN, 0));
      const on1 = h.one(1, tcp(c, VIP2, 1000, 80, TCP.SYN, 1));
      expect(on0.natFlags & NAT.AFFINITY).toBe(0);
      expect(on1.natFlags & NAT.AFFINITY, 'no affinity on node 1 from node 0\'s choice').toBe(0);
      // Each node keeps its own choice for the client's next connections. (Node 1 may also give the second one a
      // new source port: node 0's connection to a node-1 backend holds that tuple in node 1's conntrack too.)
      const next0 = h.one(2, tcp(c, VIP2, 1001, 80, TCP.SYN, 0)), next1 = h.one(2, tcp(c, VIP2, 1001, 80, TCP.SYN, 1));
      expect([next0.backend, next0.natFlags & NAT.AFFINITY]).toEqual([on0.backend, NAT.AFFINITY]);
      expect([next1.backend, next1.natFlags & NAT.AFFINITY]).toEqual([on1.backend, NAT.AFFINITY]);
      if (on0.backend !== on1.backend) differs++;
    }
    expect(differs).toBeGreaterThan(0);
  });

  it('tracks a flow per node: the same tuple entering another node is a new flow there', async () => {
    const h = await cluster(kind);
    h.one(1, tcp(EXTERNAL, VIP, 1000, 80, TCP.SYN, 0));
    expect(h.one(2, tcp(EXTERNAL, VIP, 1000, 80, TCP.ACK, 0)).ctState).toBe(CT_STATE.ESTABLISHED);
    expect(h.one(2, tcp(EXTERNAL, VIP, 1000, 80, TCP.SYN, 1)).ctState).toBe(CT_STATE.NEW);
    expect(h.dp.flow(EXTERNAL, VIP, 1000, 80, PROTO.TCP, 2000, 0)).toBeDefined();
    expect(h.dp.flow(EXTERNAL, VIP, 1000, 80, PROTO.TCP, 2000, 1)).toBeDefined();
  });

  it('allocates NAT source ports per node: two nodes masquerade the same client port alike', async () => {
    const h = await cluster(kind);
    // VIP_MASQ (service 2) masquerades external clients to the entry node's address, keeping the port when free.
    const a = h.one(1, tcp(EXTERNAL, ip('10.96.0.12'), 1000, 80, TCP.SYN, 0));
    const b = h.one(1, tcp(EXTERNAL, ip('10.96.0.12'), 1000, 80, TCP.SYN, 1));
    expect(a).toMatchObject({ verdict: VERDICT.FORWARDED, outSaddr: NODE0 });
    expect(b).toMatchObject({ verdict: VERDICT.FORWARDED, outSaddr: NODE1 });
    expect(a.natFlags & NAT.SNAT).toBe(NAT.SNAT);
  });

  it('processes a cross-node flow on both nodes, and reverse-NATs its replies on the client\'s node', async () => {
    const h = await cluster(kind);
    h.setService(3, VIP2, { algo: 'random', backends: [BACKEND_B] }); // POD_B lives on node 1; CLIENT on node 0
    const req = h.one(1, tcp(CLIENT, VIP2, 40000, 80, TCP.SYN, 0));
    expect(req).toMatchObject({
      verdict: VERDICT.FORWARDED, ctState: CT_STATE.NEW, natFlags: NAT.DNAT, outDaddr: POD_B, outDport: 8080, service: 3, backend: BACKEND_B,
      hopNode: 1, hopVerdict: VERDICT.FORWARDED, hopCtState: CT_STATE.NEW, hopNatFlags: 0,
    });
    // Node 0 holds the DNAT'd flow; node 1 the flow as it arrived (no NAT there).
    expect(h.dp.flow(CLIENT, VIP2, 40000, 80, PROTO.TCP, 1000, 0)).toMatchObject({ natDaddr: POD_B, service: 3 });
    expect(h.dp.flow(CLIENT, POD_B, 40000, 8080, PROTO.TCP, 1000, 1)).toMatchObject({ natDaddr: POD_B, service: NONE });
    expect(h.dp.flow(CLIENT, VIP2, 40000, 80, PROTO.TCP, 1000, 1)).toBeUndefined();

    // The reply enters POD_B's node 1 (its conntrack: a reply, nothing to undo), then node 0 reverse-NATs it.
    const back = h.reply(1, req, TCP.SYN | TCP.ACK, 1);
    expect(back).toMatchObject({
      verdict: VERDICT.FORWARDED, ctState: CT_STATE.REPLY, natFlags: NAT.REVNAT, outSaddr: VIP2, outSport: 80,
      outDaddr: CLIENT, outDport: 40000, service: 3, backend: BACKEND_B,
      hopNode: 0, hopVerdict: VERDICT.FORWARDED, hopCtState: CT_STATE.REPLY, hopNatFlags: NAT.REVNAT,
    });
    const again = h.one(2, tcp(CLIENT, VIP2, 40000, 80, TCP.ACK, 0));
    expect(again).toMatchObject({ ctState: CT_STATE.ESTABLISHED, outDaddr: POD_B, hopNode: 1, hopCtState: CT_STATE.ESTABLISHED });
  });

  it('takes no second hop for a destination on the entry node', async () => {
    const h = await cluster(kind);
    const r = h.one(1, tcp(CLIENT, ip('10.1.0.20'), 40000, 8080, TCP.SYN, 0)); // POD_A, node 0
    expect(r).toMatchObject({ verdict: VERDICT.FORWARDED, hopNode: NODE_NONE, hopVerdict: 0 });
    expect(h.dp.ctCount()).toBe(1);
  });

  it('brings a masqueraded NodePort reply back through the node that masqueraded it', async () => {
    const h = await cluster(kind);
    h.setService(3, VIP2, { algo: 'random', backends: [BACKEND_B], flags: SVC_FLAG.MASQ_EXTERNAL });
    h.dp.upsertFrontend({ addr: NODE0, port: 30080, proto: PROTO.TCP }, 3);
    const req = h.one(1, tcp(EXTERNAL, NODE0, 41000, 30080, TCP.SYN, 0));
    expect(req).toMatchObject({ outSaddr: NODE0, outDaddr: POD_B, hopNode: 1, hopCtState: CT_STATE.NEW });
    const back = h.reply(1, req, TCP.SYN | TCP.ACK, 1); // from POD_B on node 1, to node 0's address
    expect(back).toMatchObject({ outSaddr: NODE0, outSport: 30080, outDaddr: EXTERNAL, outDport: 41000, hopNode: 0, natFlags: NAT.REVNAT });
  });

  it('loses a failed node\'s conntrack and affinity, and only that node\'s', async () => {
    const h = await cluster(kind, { seed: 3 });
    h.setService(3, VIP2, { algo: 'random', backends: [BACKEND_B], affinityTimeout: 600 }); // POD_B on node 1
    const req = h.one(1, tcp(CLIENT, VIP2, 40000, 80, TCP.SYN, 0));
    h.one(1, tcp(EXTERNAL, VIP2, 1000, 80, TCP.SYN, 1)); // a client entering node 1: its affinity is node 1's
    expect(h.dp.ctCount()).toBe(3); // CLIENT's flow on nodes 0 and 1, EXTERNAL's on node 1
    expect(h.dp.flushNode(1)).toBe(2);
    expect(h.dp.ctCount()).toBe(1);
    expect(h.dp.flow(CLIENT, VIP2, 40000, 80, PROTO.TCP, 1000, 0)).toBeDefined(); // node 0 kept its own
    // Node 1 comes back empty: the connection is new there, and the client's affinity is forgotten.
    expect(h.one(2, tcp(CLIENT, VIP2, 40000, 80, TCP.ACK, 0))).toMatchObject({ ctState: CT_STATE.ESTABLISHED, outDaddr: req.outDaddr, hopCtState: CT_STATE.NEW });
    expect(h.one(2, tcp(EXTERNAL, VIP2, 1001, 80, TCP.SYN, 1)).natFlags & NAT.AFFINITY).toBe(0);
    expect(() => h.dp.flushNode(-1)).toThrow(/flushNode: node -1/);
  });
});

describe.each(kinds)('per-node IPVS schedulers and connection counts (%s backend)', (kind) => {
  // Every node's kernel runs its own IPVS: kube-proxy programs the same virtual servers on each node, and each
  // keeps its own rr cursor and its own activeconns/inactconns (ip_vs_rr.c, ip_vs_lc.c read the node's state).
  async function ipvs(algo: 'rr' | 'lc' | 'wrr'): Promise<Harness> {
    const dp = await createDataplane(kind, { design: 'ipvs', maxFlows: 1024, maxServices: 4, maxBackends: 16, maxSlots: 64, maxNodes: 4 });
    dp.setNode(0, NODE0); dp.setNode(1, NODE1);
    dp.setBackend(BACKEND_A, { addr: POD_A, port: 8080, node: 0 });
    dp.setBackend(BACKEND_B, { addr: POD_B, port: 8080, node: 1 });
    dp.setBackend(BACKEND_C, { addr: POD_C, port: 8080, node: 1 });
    const h = new Harness(dp);
    h.setService(0, VIP, { algo, backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
    return h;
  }
  const syn = (h: Harness, sport: number, node: number) => h.one(1, tcp((EXTERNAL + sport) >>> 0, VIP, sport, 80, TCP.SYN, node)).backend;

  it('rr: each node walks the destinations with its own cursor', async () => {
    const h = await ipvs('rr');
    expect([1, 2].map((i) => syn(h, i, 0))).toEqual([BACKEND_A, BACKEND_B]);
    // One cursor for all nodes would give node 1 BACKEND_C next.
    expect([3, 4].map((i) => syn(h, i, 1))).toEqual([BACKEND_A, BACKEND_B]);
    expect(syn(h, 5, 0)).toBe(BACKEND_C);
    // A change of the destinations reaches every node's scheduler (its cursor kept where it still names one).
    h.setService(0, VIP, { algo: 'rr', backends: [BACKEND_A, BACKEND_B] });
    expect([syn(h, 6, 0), syn(h, 7, 1)]).toEqual([BACKEND_A, BACKEND_A]);
  });

  it('lc: each node weighs the connections it holds itself', async () => {
    const h = await ipvs('lc');
    expect([1, 2].map((i) => syn(h, i, 0))).toEqual([BACKEND_A, BACKEND_B]);
    // Node 1 holds no connection yet: every destination is idle there, the first is taken (counted over the
    // cluster, BACKEND_C would be the least loaded).
    expect(syn(h, 3, 1)).toBe(BACKEND_A);
    expect(syn(h, 4, 0)).toBe(BACKEND_C);
    // A node's failure takes its connections out of its counts only.
    h.dp.flushNode(0);
    expect(syn(h, 5, 0)).toBe(BACKEND_A);
    expect(syn(h, 6, 1)).toBe(BACKEND_B);
  });
});

describe('per-node IPVS scheduler records beyond the array size', () => {
  // More (service, node) pairs than the core keeps as an array (2^22): the records live in an LRU of the
  // conntrack's capacity; evicting one restarts that node's rr at the list head, on both backends alike.
  it('evicts the oldest unreferenced record, counted, the same way on both backends', async () => {
    const run = async (kind: 'wasm' | 'reference') => {
      const dp = await createDataplane(kind, { design: 'ipvs', maxFlows: 6, maxServices: 65536, maxBackends: 8, maxSlots: 64, maxFrontends: 64, maxNodes: 65 });
      for (let n = 0; n < 4; n++) dp.setNode(n, (NODE0 + n) >>> 0);
      [POD_A, POD_B, POD_C].forEach((addr, i) => dp.setBackend(i, { addr, port: 8080, node: 0 }));
      const h = new Harness(dp);
      for (let i = 0; i < 3; i++) h.setService(i, (VIP + i) >>> 0, { algo: 'rr', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
      const out: number[] = [];
      let port = 1000;
      for (let t = 1; t <= 6; t++) {
        for (let node = 0; node < 4; node++) for (let svc = 0; svc < 3; svc++) {
          out.push(h.one(t, tcp((EXTERNAL + port) >>> 0, (VIP + svc) >>> 0, port++, 80, TCP.SYN, node)).backend);
        }
      }
      return { out, evicted: dp.counters().ipvsSchedulerEvicted };
    };
    const wasm = await run('wasm');
    expect(wasm.evicted).toBeGreaterThan(0);
    expect(await run('reference')).toEqual(wasm);
  });
});

function ip(s: string): number { return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0; }
