// Per-node dataplane state, on each backend: every node has its own conntrack, NAT source ports and ClientIP
// affinity, and a packet leaving toward another node's pod is processed again there (a second hop), where
// replies meet the conntrack entry of the node that NATed them. What a user of a multi-node cluster sees.
import { describe, it, expect } from 'vitest';
import { cluster, tcp, CLIENT, EXTERNAL, POD_B, VIP, VIP2, BACKEND_A, BACKEND_B, BACKEND_C, NODE0, NODE1 } from './helpers/fixture.js';
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

function ip(s: string): number { return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0; }
