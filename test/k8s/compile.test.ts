// compileCluster: Kubernetes manifests (test/k8s/fixtures/services/cluster) in,
// kube-proxy (iptables mode) decisions out, checked packet by packet through
// the dataplane, on the WASM core and on the reference. Each `describe` is one
// rule; the comment on it names the kube-proxy source it follows.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createDataplane, BackendKind } from '../../src/node.js';
import { loadManifests } from '../../src/k8s/load.js';
import { ClusterModel } from '../../src/k8s/model.js';
import { CompileOptions, compileCluster, limitsForModel, planCluster, resolveCompileOptions } from '../../src/k8s/compile.js';
import { Tracer, TraceRecord } from '../../src/trace.js';
import { SVC_FLAG } from '../../src/dataplane.js';
import { NODES_YAML, fixtureFiles, loadText } from './helpers.js';

const model = (): ClusterModel => loadManifests(fixtureFiles('services/cluster')).model;

// Addresses of the fixture.
const N1 = '192.168.0.1', N2 = '192.168.0.2', N3 = '192.168.0.3';
const CLIENT1 = '10.244.1.100', CLIENT2 = '10.244.2.100', CLIENT3 = '10.244.3.100';
const WEB1 = '10.244.1.10', WEB2 = '10.244.2.10', WEB3 = '10.244.2.11', SOLO = '10.244.2.20', DNS = '10.244.1.53';
const WEBS = [WEB1, WEB2, WEB3].map((a) => `${a}:8080`);
const OUTSIDE = '203.0.113.7';        // an external client inside web-lb's source range
const OUTSIDE_OTHER = '198.51.100.99'; // an external client outside it
const VIP = {
  web: '10.96.1.1', webNp: '10.96.1.2', webLb: '10.96.1.3', webItp: '10.96.1.4', webAff: '10.96.1.5', dns: '10.96.1.6',
  solo: '10.96.1.7', empty: '10.96.1.8', drain: '10.96.1.9', mixed: '10.96.1.10', drainLocal: '10.96.1.11',
  zonal: '10.96.1.12', zonalPartial: '10.96.1.13', zonalElsewhere: '10.96.1.14',
};
const LB_IP = '172.18.0.10', EXTERNAL_IP = '198.51.100.10';

interface Pkt { src: string; dst: string; sport: number; dport: number; proto?: string; flags?: string; node?: string; t?: number }

class Client {
  private line = 0;
  constructor(readonly tracer: Tracer) {}
  send(p: Pkt): TraceRecord {
    const r = this.tracer.trace(p, ++this.line);
    if ('error' in r) throw new Error(r.error);
    return r;
  }
  /** The reply the destination sends to what it received. */
  reply(r: TraceRecord, flags = 'SA', t?: number): TraceRecord {
    const p: Pkt = { src: r.dst, dst: r.src, sport: r.dport, dport: r.sport, proto: r.proto };
    if (r.proto === 'TCP') p.flags = flags;
    if (t !== undefined) p.t = t;
    return this.send(p);
  }
  /** Backends chosen for `n` new connections from `src` (source ports from `from`). */
  backends(p: Omit<Pkt, 'sport'>, n = 40, from = 20000): Set<string | null> {
    return new Set(Array.from({ length: n }, (_, i) => this.send({ ...p, sport: from + i }).backend));
  }
}

async function client(kind: BackendKind, opts: CompileOptions = {}, m = model()): Promise<Client> {
  const dp = await createDataplane(kind, { ...limitsForModel(m, 4096, opts), seed: 7 });
  return new Client(new Tracer(dp, compileCluster(dp, m, opts)));
}

const kinds: BackendKind[] = ['wasm', 'reference'];

describe.each(kinds)('%s backend', (kind) => {
  // proxier.go: "cluster IP" rule -> KUBE-SVC (random over endpoints) -> KUBE-SEP DNAT --to-destination ip:port.
  describe('ClusterIP', () => {
    it('DNATs to an endpoint and its resolved target port: a named targetPort (http -> 8080)', async () => {
      const c = await client(kind);
      const r = c.send({ src: CLIENT1, dst: VIP.web, sport: 40000, dport: 80 });
      expect(r).toMatchObject({ verdict: 'FORWARDED', ct_state: 'NEW', nat: ['DNAT'], service: 'default/web:http', src: CLIENT1, sport: 40000, dport: 8080 });
      expect(WEBS).toContain(r.backend);
      expect(`${r.dst}:${r.dport}`).toBe(r.backend);
      expect(r.frontend).toEqual({ kind: 'ClusterIP', address: `${VIP.web}:80`, scope: 'any', node: null });
      expect(c.backends({ src: CLIENT1, dst: VIP.web, dport: 80 })).toEqual(new Set(WEBS));
    });

    it('DNATs a numeric targetPort (8081 -> 8080) as a port of its own', async () => {
      const c = await client(kind);
      const r = c.send({ src: CLIENT1, dst: VIP.web, sport: 40000, dport: 8081 });
      expect(r).toMatchObject({ verdict: 'FORWARDED', service: 'default/web:alt', dport: 8080 });
      expect(WEBS).toContain(r.backend);
      expect(c.send({ src: CLIENT1, dst: VIP.web, sport: 40001, dport: 8082 })).toMatchObject({ service: null, nat: [], dst: VIP.web, dport: 8082 });
    });

    it('reverse-NATs the reply to the service address and port', async () => {
      const c = await client(kind);
      const r = c.send({ src: CLIENT1, dst: VIP.web, sport: 40000, dport: 80 });
      const back = c.reply(r);
      expect(back).toMatchObject({ verdict: 'FORWARDED', ct_state: 'REPLY', nat: ['REVNAT'], src: VIP.web, sport: 80, dst: CLIENT1, dport: 40000,
        service: 'default/web:http', backend: r.backend, delivered_node: 'n1' });
      expect(c.send({ src: CLIENT1, dst: VIP.web, sport: 40000, dport: 80, flags: 'A' })).toMatchObject({ ct_state: 'ESTABLISHED', backend: r.backend });
    });

    it('keeps TCP, UDP and SCTP on the same port apart, each with its own endpoint port', async () => {
      const c = await client(kind);
      const udp = c.send({ src: CLIENT2, dst: VIP.dns, sport: 5000, dport: 53, proto: 'UDP' });
      const tcp = c.send({ src: CLIENT2, dst: VIP.dns, sport: 5000, dport: 53, proto: 'TCP' });
      const sctp = c.send({ src: CLIENT2, dst: VIP.dns, sport: 5000, dport: 53, proto: 'SCTP' });
      expect([udp.service, udp.backend, udp.proto]).toEqual(['default/dns:dns', `${DNS}:5353`, 'UDP']);
      expect([tcp.service, tcp.backend, tcp.proto]).toEqual(['default/dns:dns-tcp', `${DNS}:5353`, 'TCP']);
      expect([sctp.service, sctp.backend, sctp.proto]).toEqual(['default/dns:dns-sctp', `${DNS}:5300`, 'SCTP']);
      expect(c.reply(udp)).toMatchObject({ src: VIP.dns, sport: 53, nat: ['REVNAT'], proto: 'UDP' });
    });

    // proxier.go: a service without endpoints gets a filter-table REJECT rule for its cluster IP.
    it('rejects traffic to a service with no endpoints', async () => {
      const c = await client(kind);
      expect(c.send({ src: CLIENT1, dst: VIP.empty, sport: 40000, dport: 80 })).toMatchObject({
        verdict: 'REJECTED', drop_reason: 'SERVICE_BACKEND_NOT_FOUND', service: 'default/empty:http', backend: null,
        rule: 'no endpoints: rejected (ICMP port unreachable)', delivered_node: null });
    });

    // proxier.go: `! -s clusterCIDR -j KUBE-MARK-MASQ` in the cluster IP chain (LocalDetector), or every
    // packet with --masquerade-all.
    it('masquerades sources outside the pod network (external clients, nodes), not pods', async () => {
      const c = await client(kind);
      const ext = c.send({ src: OUTSIDE, dst: VIP.solo, sport: 41000, dport: 80, node: 'n1' });
      expect(ext).toMatchObject({ verdict: 'FORWARDED', src: N1, dst: SOLO, dport: 9090, nat: ['DNAT', 'SNAT'] });
      expect(c.reply(ext)).toMatchObject({ src: VIP.solo, sport: 80, dst: OUTSIDE, dport: 41000 });
      expect(c.send({ src: N1, dst: VIP.solo, sport: 41001, dport: 80 })).toMatchObject({ node: 'n1', src: N1, nat: ['DNAT', 'SNAT'] });
      expect(c.send({ src: CLIENT1, dst: VIP.solo, sport: 41002, dport: 80 })).toMatchObject({ src: CLIENT1, sport: 41002, nat: ['DNAT'] });
    });

    it('--masquerade-all masquerades pods too; without a cluster CIDR external clients keep their address', async () => {
      const all = await client(kind, { masqueradeAll: true });
      expect(all.send({ src: CLIENT1, dst: VIP.solo, sport: 41002, dport: 80 })).toMatchObject({ src: N1, nat: ['DNAT', 'SNAT'] });
      const none = await client(kind, { clusterCIDR: null });
      expect(none.send({ src: OUTSIDE, dst: VIP.solo, sport: 41000, dport: 80, node: 'n1' })).toMatchObject({ src: OUTSIDE, nat: ['DNAT'] });
    });

    // proxier.go KUBE-SEP: `-s <endpoint ip> -j KUBE-MARK-MASQ` (hairpin).
    it('masquerades hairpin traffic (a pod reaching itself through its service) to its node address', async () => {
      const c = await client(kind);
      const r = c.send({ src: WEB1, dst: VIP.webItp, sport: 42000, dport: 80 }); // n1's only local endpoint is web-1 itself
      expect(r).toMatchObject({ verdict: 'FORWARDED', src: N1, dst: WEB1, dport: 8080, nat: ['DNAT', 'SNAT', 'HAIRPIN'], delivered_node: 'n1', cross_node: false });
      expect(c.reply(r)).toMatchObject({ src: VIP.webItp, sport: 80, dst: WEB1, dport: 42000, nat: ['REVNAT'] });
    });

    it('shows cross-node delivery', async () => {
      const c = await client(kind);
      expect(c.send({ src: CLIENT1, dst: VIP.solo, sport: 43000, dport: 80 })).toMatchObject({ node: 'n1', delivered_node: 'n2', cross_node: true, backend: `${SOLO}:9090` });
      expect(c.send({ src: CLIENT2, dst: VIP.solo, sport: 43000, dport: 80 })).toMatchObject({ node: 'n2', delivered_node: 'n2', cross_node: false });
    });
  });

  // proxier.go: services without a cluster IP (headless) and ExternalName services get no rules.
  describe('headless and ExternalName', () => {
    it('program nothing; traffic to the pods themselves is not DNATed', async () => {
      const m = model();
      const plan = planCluster(m, resolveCompileOptions(m));
      const labels = [...plan.services.values()].map((s) => s.label);
      expect(labels.some((l) => l.startsWith('default/headless') || l.startsWith('default/search'))).toBe(false);
      const c = await client(kind);
      expect(c.send({ src: CLIENT1, dst: WEB2, sport: 44000, dport: 8080 })).toMatchObject({
        verdict: 'FORWARDED', service: null, nat: [], dst: WEB2, dport: 8080, delivered_node: 'n2', cross_node: true, rule: null });
    });
  });

  // proxier.go KUBE-NODEPORTS (every node address, --dst-type LOCAL) -> KUBE-EXT: `-j KUBE-MARK-MASQ`
  // when externalTrafficPolicy is Cluster.
  describe('NodePort, externalTrafficPolicy Cluster', () => {
    it('serves the nodePort on every node address, masquerading the client to that node', async () => {
      const c = await client(kind);
      for (const [addr, node] of [[N1, 'n1'], [N2, 'n2'], [N3, 'n3']]) {
        const r = c.send({ src: OUTSIDE, dst: addr, sport: 45000, dport: 30080 });
        expect(r).toMatchObject({ node, verdict: 'FORWARDED', service: 'default/web-np:http', src: addr, dport: 8080, nat: ['DNAT', 'SNAT'] });
        expect(r.frontend).toEqual({ kind: 'NodePort', address: `${addr}:30080`, scope: 'any', node: null });
        expect(WEBS).toContain(r.backend);
        expect(c.reply(r)).toMatchObject({ src: addr, sport: 30080, dst: OUTSIDE, dport: 45000, nat: ['REVNAT'], delivered_node: null });
      }
      expect(c.send({ src: OUTSIDE, dst: N1, sport: 45001, dport: 30099, node: 'n1' })).toMatchObject({ service: null, nat: [] });
    });
  });

  // proxier.go KUBE-EXT for externalTrafficPolicy Local: pods (`-s clusterCIDR`) to the cluster chain,
  // LOCAL sources masqueraded to the cluster chain, the rest to the local chain (KUBE-SVL); no local
  // endpoint: DROP ("has no local endpoints"). topology.go CategorizeEndpoints: local endpoints.
  describe('LoadBalancer, external IPs, externalTrafficPolicy Local', () => {
    it('sends an external client on the LB IP to a local endpoint, keeping its address', async () => {
      const c = await client(kind);
      const r = c.send({ src: OUTSIDE, dst: LB_IP, sport: 46000, dport: 80, node: 'n1' });
      expect(r).toMatchObject({ verdict: 'FORWARDED', service: 'default/web-lb:http', src: OUTSIDE, sport: 46000, dst: WEB1, dport: 8080, nat: ['DNAT'],
        frontend: { kind: 'LoadBalancer', address: `${LB_IP}:80`, scope: 'external', node: 'n1' }, delivered_node: 'n1', cross_node: false });
      expect(r.rule).toBe('externalTrafficPolicy=Local: 1 local endpoint of 3 on n1, client address kept; loadBalancerSourceRanges 203.0.113.0/24');
      expect(c.reply(r)).toMatchObject({ src: LB_IP, sport: 80, dst: OUTSIDE, dport: 46000 });
      expect(c.backends({ src: OUTSIDE, dst: LB_IP, dport: 80, node: 'n2' })).toEqual(new Set([`${WEB2}:8080`, `${WEB3}:8080`]));
    });

    it('serves the external IP (not subject to loadBalancerSourceRanges) and the nodePort', async () => {
      const c = await client(kind);
      const r = c.send({ src: OUTSIDE_OTHER, dst: EXTERNAL_IP, sport: 46000, dport: 80, node: 'n1' });
      expect(r).toMatchObject({ verdict: 'FORWARDED', src: OUTSIDE_OTHER, dst: WEB1, frontend: { kind: 'externalIP', scope: 'external', node: 'n1' } });
      const np = c.send({ src: OUTSIDE_OTHER, dst: N2, sport: 46001, dport: 30081 });
      expect(np).toMatchObject({ node: 'n2', verdict: 'FORWARDED', src: OUTSIDE_OTHER, frontend: { kind: 'NodePort', scope: 'external', node: 'n2' } });
      expect([`${WEB2}:8080`, `${WEB3}:8080`]).toContain(np.backend);
    });

    it('drops external traffic on a node without a local endpoint (no rejection, no fallback)', async () => {
      const c = await client(kind);
      for (const p of [{ dst: N3, dport: 30081 }, { dst: LB_IP, dport: 80, node: 'n3' }, { dst: EXTERNAL_IP, dport: 80, node: 'n3' }]) {
        expect(c.send({ src: OUTSIDE, sport: 47000, ...p })).toMatchObject({ node: 'n3', verdict: 'DROPPED', drop_reason: 'SERVICE_BACKEND_NOT_FOUND',
          rule: expect.stringContaining('externalTrafficPolicy=Local: no local endpoint of 3 on n3: dropped') });
      }
    });

    it('sends pods to every endpoint with their own address, and the node itself masqueraded', async () => {
      const c = await client(kind);
      const pod = c.send({ src: CLIENT3, dst: N3, sport: 48000, dport: 30081 });
      expect(pod).toMatchObject({ node: 'n3', verdict: 'FORWARDED', src: CLIENT3, nat: ['DNAT'], frontend: { scope: 'any' }, cross_node: true });
      expect(c.backends({ src: CLIENT3, dst: N3, dport: 30081 })).toEqual(new Set(WEBS));
      const host = c.send({ src: N3, dst: N3, sport: 48001, dport: 30081 });
      expect(host).toMatchObject({ node: 'n3', verdict: 'FORWARDED', src: N3, nat: ['DNAT', 'SNAT'] });
    });

    // proxier.go KUBE-FW: `-s <range> -j KUBE-EXT` per loadBalancerSourceRanges entry, the rest dropped.
    it('drops LB traffic from outside loadBalancerSourceRanges', async () => {
      const c = await client(kind);
      expect(c.send({ src: OUTSIDE_OTHER, dst: LB_IP, sport: 49000, dport: 80, node: 'n1' })).toMatchObject({
        verdict: 'DROPPED', drop_reason: 'DENIED_BY_LB_SRC_RANGE_CHECK', service: 'default/web-lb:http' });
      expect(c.send({ src: CLIENT1, dst: LB_IP, sport: 49001, dport: 80 })).toMatchObject({ verdict: 'DROPPED', drop_reason: 'DENIED_BY_LB_SRC_RANGE_CHECK' });
      expect(c.send({ src: OUTSIDE, dst: LB_IP, sport: 49002, dport: 80, node: 'n1' }).verdict).toBe('FORWARDED');
    });
  });

  // topology.go CategorizeEndpoints: Local policy uses the node's ready endpoints, else its serving
  // terminating ones, independently of the cluster-wide choice.
  describe('endpoint eligibility', () => {
    it('uses ready endpoints only when there are some, and says why the others are left out', async () => {
      const c = await client(kind);
      const r = c.send({ src: CLIENT2, dst: VIP.mixed, sport: 50000, dport: 80 });
      expect(r).toMatchObject({ verdict: 'FORWARDED', backend: '10.244.1.31:8080' });
      expect(r.excluded).toEqual([
        { endpoint: '10.244.2.31:8080', target: null, slice: 'mixed-1', reason: 'terminating', why: 'terminating (ready endpoints exist, so terminating ones are not used)' },
        { endpoint: '10.244.3.31:8080', target: null, slice: 'mixed-1', reason: 'not-ready', why: 'not ready' },
      ]);
      expect(c.backends({ src: CLIENT2, dst: VIP.mixed, dport: 80 })).toEqual(new Set(['10.244.1.31:8080']));
    });

    it('falls back to serving terminating endpoints when none is ready', async () => {
      const c = await client(kind);
      const r = c.send({ src: CLIENT2, dst: VIP.drain, sport: 50000, dport: 80 });
      expect(r).toMatchObject({ verdict: 'FORWARDED', backend: '10.244.1.30:8080', delivered_node: 'n1', cross_node: true,
        rule: expect.stringContaining('(no ready endpoint: 1 serving terminating endpoint)') });
      expect(r.excluded.map((x) => [x.endpoint, x.reason])).toEqual([
        ['10.244.2.30:8080', 'terminating-not-serving'], ['10.244.3.30:8080', 'not-ready-not-terminating']]);
      expect(c.backends({ src: CLIENT2, dst: VIP.drain, dport: 80 })).toEqual(new Set(['10.244.1.30:8080']));
    });

    it('falls back per node for Local policy: a node with only a serving terminating endpoint uses it', async () => {
      const c = await client(kind);
      expect(c.send({ src: OUTSIDE, dst: N2, sport: 51000, dport: 30082 })).toMatchObject({ verdict: 'FORWARDED', backend: '10.244.2.32:8080', src: OUTSIDE,
        rule: 'externalTrafficPolicy=Local: 1 local endpoint of 1 on n2 (serving terminating), client address kept' });
      expect(c.send({ src: OUTSIDE, dst: N1, sport: 51000, dport: 30082 })).toMatchObject({ verdict: 'FORWARDED', backend: '10.244.1.32:8080' });
      expect(c.send({ src: OUTSIDE, dst: N3, sport: 51000, dport: 30082 })).toMatchObject({ verdict: 'DROPPED' });
      // Cluster-wide (the cluster IP, pods short-circuited to the cluster chain): the ready one only.
      expect(c.backends({ src: CLIENT2, dst: VIP.drainLocal, dport: 80 })).toEqual(new Set(['10.244.1.32:8080']));
      expect(c.backends({ src: CLIENT2, dst: N2, dport: 30082 })).toEqual(new Set(['10.244.1.32:8080']));
    });
  });

  // proxier.go: internalTrafficPolicy Local -> KUBE-SVL (local endpoints); none: DROP ("has no local
  // endpoints"). kubernetes.io/docs/concepts/services-networking/service-traffic-policy.
  describe('internalTrafficPolicy Local', () => {
    it('keeps traffic on the client\'s node and drops it where there is no local endpoint', async () => {
      const c = await client(kind);
      expect(c.backends({ src: CLIENT1, dst: VIP.webItp, dport: 80 })).toEqual(new Set([`${WEB1}:8080`]));
      expect(c.backends({ src: CLIENT2, dst: VIP.webItp, dport: 80 })).toEqual(new Set([`${WEB2}:8080`, `${WEB3}:8080`]));
      const r = c.send({ src: CLIENT3, dst: VIP.webItp, sport: 52000, dport: 80 });
      expect(r).toMatchObject({ verdict: 'DROPPED', drop_reason: 'SERVICE_BACKEND_NOT_FOUND', frontend: { kind: 'ClusterIP', scope: 'node', node: 'n3' },
        rule: 'internalTrafficPolicy=Local: no local endpoint of 3 on n3: dropped' });
    });
  });

  // topology.go topologyModeFromHints / availableForTopology; kubernetes.io/docs/concepts/services-networking/topology-aware-routing.
  describe('topology hints', () => {
    it('narrow each node to the endpoints hinted for its zone when every endpoint has a hint and one matches', async () => {
      const c = await client(kind);
      expect(c.backends({ src: CLIENT1, dst: VIP.zonal, dport: 80 })).toEqual(new Set(['10.244.1.40:8080', '10.244.3.40:8080']));
      expect(c.backends({ src: CLIENT3, dst: VIP.zonal, dport: 80 })).toEqual(new Set(['10.244.1.40:8080', '10.244.3.40:8080']));
      expect(c.backends({ src: CLIENT2, dst: VIP.zonal, dport: 80 })).toEqual(new Set(['10.244.2.40:8080']));
      expect(c.send({ src: CLIENT2, dst: VIP.zonal, sport: 53000, dport: 80 })).toMatchObject({
        frontend: { scope: 'node', node: 'n2' }, rule: expect.stringContaining('topology hints: 1 of 3 endpoints hinted for zone z2 (node n2)') });
    });

    it('are ignored when an endpoint has no hint', async () => {
      const c = await client(kind);
      const all = new Set(['10.244.1.41:8080', '10.244.2.41:8080', '10.244.3.41:8080']);
      expect(c.backends({ src: CLIENT1, dst: VIP.zonalPartial, dport: 80 })).toEqual(all);
      expect(c.backends({ src: CLIENT2, dst: VIP.zonalPartial, dport: 80 })).toEqual(all);
    });

    it('are ignored on a node whose zone no endpoint is hinted for', async () => {
      const c = await client(kind);
      const both = new Set(['10.244.1.42:8080', '10.244.2.42:8080']);
      expect(c.backends({ src: CLIENT1, dst: VIP.zonalElsewhere, dport: 80 })).toEqual(both);
      expect(c.backends({ src: CLIENT2, dst: VIP.zonalElsewhere, dport: 80 })).toEqual(both);
      const m = model();
      const keys = [...planCluster(m, resolveCompileOptions(m)).services.keys()].filter((k) => k.startsWith('default/zonal-elsewhere'));
      expect(keys).toEqual(['default/zonal-elsewhere:http/TCP|cluster-ip|any|']); // no per-node entry where nothing changes
    });

    it('apply to external traffic with externalTrafficPolicy Cluster', async () => {
      const m = loadText(`${NODES}
apiVersion: v1
kind: Service
metadata: {name: z, namespace: default}
spec: {type: NodePort, clusterIP: 10.96.0.50, ports: [{name: p, port: 80, nodePort: 30500}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: z-1, namespace: default, labels: {kubernetes.io/service-name: z}}
addressType: IPv4
ports: [{name: p, port: 80, protocol: TCP}]
endpoints:
  - {addresses: [10.0.1.5], nodeName: n1, hints: {forZones: [{name: z1}]}}
  - {addresses: [10.0.2.5], nodeName: n2, hints: {forZones: [{name: z2}]}}
`).model;
      const c = await client(kind, {}, m);
      expect(c.backends({ src: OUTSIDE, dst: '192.168.0.1', dport: 30500 })).toEqual(new Set(['10.0.1.5:80']));
      expect(c.backends({ src: OUTSIDE, dst: '192.168.0.2', dport: 30500 })).toEqual(new Set(['10.0.2.5:80']));
      expect(c.send({ src: OUTSIDE, dst: '192.168.0.2', sport: 1, dport: 30500 })).toMatchObject({ src: '192.168.0.2', nat: ['DNAT', 'SNAT'] });
    });
  });

  // proxier.go: `-m recent --rcheck --seconds <timeoutSeconds> --reap` per endpoint for ClientIP affinity.
  describe('sessionAffinity ClientIP', () => {
    it('keeps a client on its endpoint until the timeout passes without use', async () => {
      const c = await client(kind);
      const first = c.send({ src: CLIENT1, dst: VIP.webAff, sport: 54000, dport: 80, t: 0 });
      expect(first.rule).toContain('sessionAffinity=ClientIP (30 s)');
      for (let i = 1; i < 20; i++) {
        const r = c.send({ src: CLIENT1, dst: VIP.webAff, sport: 54000 + i, dport: 80, t: i * 1.5 });
        expect(r.backend).toBe(first.backend);
        expect(r.nat).toEqual(['DNAT', 'AFFINITY']);
      }
      // Another client is free to land elsewhere.
      expect(c.backends({ src: CLIENT2, dst: VIP.webAff, dport: 80 }, 1).size).toBe(1);
      // 31 s after its last use the affinity has expired: the next choice is free again.
      const later = c.send({ src: CLIENT1, dst: VIP.webAff, sport: 55000, dport: 80, t: 28.5 + 31 });
      expect(later.nat).toEqual(['DNAT']);
    });
  });
});

const NODES = `${NODES_YAML}---
`;

describe('the compiled plan', () => {
  const m = model();
  const plan = planCluster(m, resolveCompileOptions(m));
  const entry = (key: string) => {
    const s = plan.services.get(key);
    expect(s, key).toBeDefined();
    return s!;
  };

  it('numbers nodes in model order and keeps one backend per endpoint ip:port/protocol', () => {
    expect(plan.nodes.map((n) => [n.id, n.name])).toEqual([[0, 'n1'], [1, 'n2'], [2, 'n3']]);
    const keys = [...plan.backends.keys()];
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('10.244.1.53:5353/UDP');
    expect(keys).toContain('10.244.1.53:5353/TCP');
    // web's http and alt ports, web-np, web-lb, ... share the web pods' backends.
    expect(keys.filter((k) => k.startsWith('10.244.1.10:'))).toEqual(['10.244.1.10:8080/TCP']);
    expect(plan.backends.get('10.244.1.10:8080/TCP')).toMatchObject({ node: 'n1', target: 'default/web-1' });
  });

  it('gives every entry its flags: ClusterIP masquerades outsiders, ETP Cluster everything, ETP Local drops with no local endpoint', () => {
    expect(entry('default/web:http/TCP|cluster-ip|any|').flags).toBe(SVC_FLAG.MASQ_EXTERNAL);
    expect(entry('default/web-np:http/TCP|external|any|').flags).toBe(SVC_FLAG.MASQ_ALWAYS);
    expect(entry('default/web-lb:http/TCP|external|any|').flags).toBe(SVC_FLAG.MASQ_EXTERNAL);
    expect(entry('default/web-lb:http/TCP|external|external|n3')).toMatchObject({ flags: SVC_FLAG.DROP_NO_BACKEND, backends: [] });
    expect(entry('default/web-lb:http/TCP|load-balancer|external|n1')).toMatchObject({
      flags: SVC_FLAG.DROP_NO_BACKEND | SVC_FLAG.SOURCE_RANGES, sourceRanges: ['203.0.113.0/24'] });
    expect(entry('default/web-itp:http/TCP|cluster-ip|node|n3')).toMatchObject({ flags: SVC_FLAG.MASQ_EXTERNAL | SVC_FLAG.DROP_NO_BACKEND, backends: [] });
    expect(entry('default/empty:http/TCP|cluster-ip|any|')).toMatchObject({ flags: SVC_FLAG.MASQ_EXTERNAL, backends: [] });
    expect(entry('default/web-aff:http/TCP|cluster-ip|any|').affinityTimeout).toBe(30);
  });

  it('registers pods, node addresses, pod CIDRs and the cluster CIDR in the ipcache', () => {
    const ipc = (cidr: string) => plan.ipcache.get(cidr);
    expect(ipc('10.244.0.0/16')?.what).toBe('cluster CIDR');
    expect(ipc('10.244.2.0/24')).toMatchObject({ what: 'podCIDR of node n2', info: { node: 1, flags: 1 } });
    expect(ipc('192.168.0.3/32')).toMatchObject({ what: 'node n3', info: { identity: 1, node: 2, flags: 2 } });
    const w1 = ipc('10.244.1.10/32')!, w2 = ipc('10.244.2.10/32')!, c1 = ipc('10.244.1.100/32')!;
    expect(w1.info.identity).toBe(w2.info.identity); // same labels, same identity
    expect(w1.info.identity).not.toBe(c1.info.identity);
    expect(w1.info.endpoint).not.toBe(w2.info.endpoint); // one endpoint per pod
  });

  it('serves NodePorts on --nodeport-addresses only', async () => {
    const p = planCluster(m, resolveCompileOptions(m, { nodePortAddresses: ['192.168.0.0/31'] }));
    const nodePorts = [...p.frontends.values()].filter((f) => f.kind === 'NodePort' && f.port === 30080).map((f) => f.addr);
    expect(nodePorts.length).toBe(1);
  });

  it('lets an LB VIP through its own source ranges when a range holds a node address (allowFromNode)', () => {
    const mm = loadText(`${NODES}
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.60
  loadBalancerSourceRanges: [192.168.0.0/24]
  ports: [{name: p, port: 80}]
status: {loadBalancer: {ingress: [{ip: 172.18.0.60}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: p, port: 80, protocol: TCP}]
endpoints: [{addresses: [10.0.1.5], nodeName: n1}]
`).model;
    const p = planCluster(mm, resolveCompileOptions(mm));
    expect(p.services.get('default/lb:p/TCP|load-balancer|any|')?.sourceRanges).toEqual(['192.168.0.0/24', '172.18.0.60/32']);
  });

  it('sizes the dataplane for the model', () => {
    const l = limitsForModel(m, 1000);
    expect(l.maxServices).toBeGreaterThanOrEqual(plan.services.size);
    expect(l.maxFrontends).toBeGreaterThanOrEqual(plan.frontends.size);
    expect(l.maxBackends).toBeGreaterThanOrEqual(plan.backends.size);
    expect(l.maxNodes).toBeGreaterThanOrEqual(3);
  });
});

// ---------------------------------------------------------------- property

// For random small clusters (nodes, a Deployment and Pods with labels and named ports, Services
// with numeric or named targetPorts and random types and traffic policies): a new connection to any
// frontend is DNATed to an endpoint kube-proxy would use there, with that pod's resolved target port,
// and its reply is reverse-NATed to the frontend's address and port; where no endpoint may be used
// it is dropped (Local policy) or rejected (no endpoint at all). The expected endpoints are worked
// out here from the pods, independently of the compiler.
describe('property: frontends DNAT to an eligible endpoint and reverse-NAT the reply', () => {
  const PORT_NAMES = ['http', 'metrics'];
  const protocol = fc.constantFrom('TCP', 'UDP');
  const containerPorts = fc.uniqueArray(
    fc.record({ name: fc.constantFrom(...PORT_NAMES), containerPort: fc.integer({ min: 1000, max: 9999 }), protocol }),
    { selector: (p) => `${p.name}`, maxLength: 2 });
  const cluster = fc.integer({ min: 1, max: 3 }).chain((nodes) => fc.record({
    nodes: fc.constant(nodes),
    pods: fc.array(fc.record({ app: fc.constantFrom('a', 'b'), node: fc.integer({ min: 0, max: nodes - 1 }), ready: fc.boolean(), ports: containerPorts }), { maxLength: 5 }),
    deployment: fc.record({ app: fc.constantFrom('a', 'b'), replicas: fc.integer({ min: 0, max: 3 }), ports: containerPorts }),
    services: fc.array(fc.record({
      app: fc.constantFrom('a', 'b'),
      type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer'),
      etp: fc.constantFrom('Cluster', 'Local'), itp: fc.constantFrom('Cluster', 'Local'),
      ports: fc.uniqueArray(fc.record({
        port: fc.constantFrom(80, 81), protocol,
        targetPort: fc.oneof(fc.integer({ min: 1000, max: 9999 }), fc.constantFrom(...PORT_NAMES)),
      }), { selector: (p) => `${p.port}/${p.protocol}`, minLength: 1, maxLength: 2 }),
    }), { minLength: 1, maxLength: 3 }),
    kind: fc.constantFrom<BackendKind>('wasm', 'reference'),
  }));

  type Spec = typeof cluster extends fc.Arbitrary<infer T> ? T : never;

  function manifests(s: Spec): string {
    const docs: object[] = [];
    for (let i = 0; i < s.nodes; i++) {
      docs.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: `n${i}` }, spec: { podCIDR: `10.244.${i + 1}.0/24` },
        status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }] } });
      docs.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `client-${i}`, namespace: 'default', labels: { app: 'client' } },
        spec: { nodeName: `n${i}`, containers: [{ name: 'c', image: 'busybox' }] },
        status: { phase: 'Running', podIP: `10.244.${i + 1}.200`, conditions: [{ type: 'Ready', status: 'True' }] } });
    }
    s.pods.forEach((p, i) => docs.push({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: 'default', labels: { app: p.app } },
      spec: { nodeName: `n${p.node}`, containers: [{ name: 'c', image: 'x', ports: p.ports }] },
      status: { phase: 'Running', podIP: `10.244.${p.node + 1}.${10 + i}`, conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }] },
    }));
    const d = s.deployment;
    docs.push({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'dep', namespace: 'default' },
      spec: { replicas: d.replicas, selector: { matchLabels: { app: d.app } },
        template: { metadata: { labels: { app: d.app } }, spec: { containers: [{ name: 'c', image: 'x', ports: d.ports }] } } } });
    s.services.forEach((v, i) => {
      const external = v.type !== 'ClusterIP';
      docs.push({
        apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'default' },
        spec: {
          type: v.type, clusterIP: `10.96.0.${10 + i}`, selector: { app: v.app }, internalTrafficPolicy: v.itp,
          ...(external ? { externalTrafficPolicy: v.etp } : {}),
          ports: v.ports.map((p, j) => ({ name: `p${j}`, port: p.port, protocol: p.protocol, targetPort: p.targetPort, ...(external ? { nodePort: 30000 + i * 10 + j } : {}) })),
        },
        ...(v.type === 'LoadBalancer' ? { status: { loadBalancer: { ingress: [{ ip: `172.18.0.${10 + i}` }] } } } : {}),
      });
    });
    return docs.map((x) => JSON.stringify(x)).join('\n---\n');
  }

  it('holds', async () => {
    await fc.assert(fc.asyncProperty(cluster, async (s) => {
      const m = loadText(manifests(s)).model;
      const c = await client(s.kind, {}, m);
      let sport = 1000;
      for (const [i, v] of s.services.entries()) {
        const svc = m.services.find((x) => x.name === `svc-${i}`)!;
        for (const sp of svc.ports) {
          // The endpoints kube-proxy would use, worked out from the pods: selected, Running with an
          // address on a known node, ready, and with the target port resolved (by name and protocol).
          const eps = m.pods.filter((p) => p.labels.app === v.app && p.phase === 'Running' && p.podIP && p.ready && p.nodeName)
            .map((p) => {
              const port = typeof sp.targetPort === 'number' ? sp.targetPort
                : p.ports.find((cp) => cp.name === sp.targetPort && cp.protocol === sp.protocol)?.containerPort;
              return port === undefined ? undefined : { addr: p.podIP!, port, node: p.nodeName! };
            }).filter((e): e is { addr: string; port: number; node: string } => e !== undefined);
          const check = (r: TraceRecord, allowed: typeof eps, frontend: [string, number], keptSource: string | undefined) => {
            const fe = `${frontend[0]}:${frontend[1]}`;
            if (allowed.length === 0) {
              expect(r.verdict, fe).toBe(eps.length === 0 ? 'REJECTED' : 'DROPPED');
              return;
            }
            expect(r.verdict, fe).toBe('FORWARDED');
            expect(allowed.map((e) => `${e.addr}:${e.port}`)).toContain(`${r.dst}:${r.dport}`);
            expect(r.backend).toBe(`${r.dst}:${r.dport}`);
            expect(r.nat).toContain('DNAT');
            if (keptSource) expect(r.src).toBe(keptSource);
            const back = c.reply(r);
            expect(back).toMatchObject({ verdict: 'FORWARDED', ct_state: 'REPLY', src: frontend[0], sport: frontend[1], dst: r.in.src, dport: r.in.sport });
          };
          // Pods on every node to the cluster IP (internalTrafficPolicy).
          for (let n = 0; n < s.nodes; n++) {
            const allowed = v.itp === 'Local' ? eps.filter((e) => e.node === `n${n}`) : eps;
            const r = c.send({ src: `10.244.${n + 1}.200`, dst: svc.clusterIP!, sport: sport++, dport: sp.port, proto: sp.protocol });
            check(r, allowed, [svc.clusterIP!, sp.port], `10.244.${n + 1}.200`);
          }
          if (v.type === 'ClusterIP') continue;
          // An external client on every node's NodePort, and on the LB IP entering there (externalTrafficPolicy).
          for (let n = 0; n < s.nodes; n++) {
            const allowed = v.etp === 'Local' ? eps.filter((e) => e.node === `n${n}`) : eps;
            const nodeIP = `192.168.0.${n + 1}`;
            const r = c.send({ src: '203.0.113.9', dst: nodeIP, sport: sport++, dport: sp.nodePort!, proto: sp.protocol });
            check(r, allowed, [nodeIP, sp.nodePort!], v.etp === 'Local' ? '203.0.113.9' : nodeIP);
            if (v.type === 'LoadBalancer') {
              const lb = svc.loadBalancerIngress[0];
              const l = c.send({ src: '203.0.113.9', dst: lb, sport: sport++, dport: sp.port, proto: sp.protocol, node: `n${n}` });
              check(l, allowed, [lb, sp.port], v.etp === 'Local' ? '203.0.113.9' : nodeIP);
            }
          }
        }
      }
    }), { numRuns: 60 });
  });
});
