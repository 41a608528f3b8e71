// Policies in the Kubernetes path: Service traffic judged after DNAT, replies
// through conntrack, hairpin, recompiling on a change (established flows are
// judged again), and the trace record's explanation.
import { describe, it, expect } from 'vitest';
import type { ClusterModel, EndpointSlice, Service } from '../../src/k8s/model.js';
import type { ClusterPolicies, PolicyKnobs } from '../../src/policy/model.js';
import { DEFAULT_POLICY_KNOBS } from '../../src/policy/model.js';
import { Allocations, planCluster, programPlan, resolveCompileOptions, compileCluster } from '../../src/k8s/compile.js';
import { dataplanePolicyOptions } from '../../src/policy/compile.js';
import { createDataplane, BackendKind } from '../../src/node.js';
import { createTracer, traceLines } from '../../src/trace.js';
import { ip } from '../../src/common/ip.js';
import { DROP, PROTO, TCP, VERDICT } from '../../src/packet.js';
import { KINDS, SMALL_LIMITS, cport, ipBlock, model, node, np, ns, pod, podPeer, policies, port, rule, sel } from './helpers.js';

const WEB = '10.0.1.10', DB = '10.0.2.10', API = '10.0.1.11', VIP = '10.96.0.10';

function service(): Service {
  return {
    namespace: 'prod', name: 'db', labels: {}, type: 'ClusterIP', clusterIP: VIP, clusterIPs: [VIP], headless: false,
    clusterIPAllocated: false, ports: [{ name: '', protocol: 'TCP', port: 5432, targetPort: 'sql' }], selector: { app: 'db' },
    externalIPs: [], loadBalancerIngress: [], loadBalancerHostnames: [], externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None', sessionAffinityTimeout: 10800, loadBalancerSourceRanges: [], allocateLoadBalancerNodePorts: true,
    publishNotReadyAddresses: false,
  };
}
function slice(): EndpointSlice {
  return {
    namespace: 'prod', name: 'db-1', serviceName: 'db', addressType: 'IPv4', labels: {}, derived: true,
    endpoints: [{ addresses: [DB], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'prod', name: 'db' } }],
    ports: [{ name: '', port: 5432, protocol: 'TCP' }],
  };
}
function cluster(p: ClusterPolicies): ClusterModel {
  const m = model([ns('prod', { env: 'prod' })],
    [node('n1', '192.168.0.1', '10.0.1.0/24'), node('n2', '192.168.0.2', '10.0.2.0/24')],
    [
      pod('prod', 'web', { app: 'web' }, WEB, 'n1', [cport('http', 8080)]),
      pod('prod', 'db', { app: 'db' }, DB, 'n2', [cport('sql', 5432)]),
      pod('prod', 'api', { app: 'api' }, API, 'n1'),
    ], p);
  m.services = [service()];
  m.endpointSlices = [slice()];
  return m;
}

const syn = (src: string, dst: string, sport: number, dport: number, node: number) =>
  ({ saddr: ip(src), daddr: ip(dst), sport, dport, proto: PROTO.TCP as number, tcpFlags: TCP.SYN as number, node, len: 60 });

async function setup(kind: BackendKind, m: ClusterModel, knobs: Partial<PolicyKnobs> = {}) {
  const k = { ...DEFAULT_POLICY_KNOBS, ...knobs };
  const dp = await createDataplane(kind, { ...SMALL_LIMITS, ...dataplanePolicyOptions(k) });
  const cc = compileCluster(dp, m, { policyKnobs: k });
  const batch = dp.allocBatch(4);
  const one = (p: ReturnType<typeof syn>, t = 1) => { batch.set(0, p); dp.process(batch, 1, t * 1000); return batch.get(0); };
  return { dp, cc, one };
}

const dbIn = np('prod', 'db-in', { podSelector: sel({ app: 'db' }), ingress: [rule([podPeer(sel({ app: 'web' }))], [port('TCP', 'sql')])] });

describe.each(KINDS)('%s backend', (kind) => {
  it('judges Service traffic against the backend after DNAT (ingress) and the client\'s egress to the backend', async () => {
    const { one } = await setup(kind, cluster(policies([
      dbIn,
      np('prod', 'web-out', { podSelector: sel({ app: 'web' }), policyTypes: ['Egress'], egress: [rule([podPeer(sel({ app: 'db' }))], [port('TCP', 5432)])] }),
      // egress to the service CIDR does not cover the backend: the check happens after DNAT
      np('prod', 'api-out', { podSelector: sel({ app: 'api' }), policyTypes: ['Egress'], egress: [rule([ipBlock('10.96.0.0/16')])] }),
    ])));
    const ok = one(syn(WEB, VIP, 40000, 5432, 0));
    expect(ok).toMatchObject({ verdict: VERDICT.FORWARDED, outDaddr: ip(DB), outDport: 5432 });
    const api = one(syn(API, VIP, 40001, 5432, 0));
    expect(api).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.POLICY_DENIED });
  });

  it('lets replies of allowed connections through in both directions of isolation, not new connections back', async () => {
    const { one } = await setup(kind, cluster(policies([
      np('prod', 'db-lock', { podSelector: sel({ app: 'db' }), policyTypes: ['Ingress', 'Egress'], ingress: [rule([podPeer(sel({ app: 'web' }))])] }),
      np('prod', 'web-lock', { podSelector: sel({ app: 'web' }), policyTypes: ['Ingress', 'Egress'], egress: [rule([podPeer(sel({ app: 'db' }))])] }),
    ])));
    const out = one(syn(WEB, DB, 40000, 5432, 0));
    expect(out.verdict).toBe(VERDICT.FORWARDED);
    const back = one({ ...syn(DB, WEB, 5432, 40000, 1), tcpFlags: TCP.SYN | TCP.ACK });
    expect(back).toMatchObject({ verdict: VERDICT.FORWARDED, outDaddr: ip(WEB) });
    expect(one(syn(DB, WEB, 41000, 8080, 1))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.POLICY_DENIED });
  });

  it('hairpin through a Service: allowed whatever the policy by default (allowSelf), judged when the knob is off', async () => {
    const lock = policies([np('prod', 'db-lock', { podSelector: sel({ app: 'db' }), policyTypes: ['Ingress', 'Egress'] })]);
    const on = await setup(kind, cluster(lock));
    expect(on.one(syn(DB, VIP, 40000, 5432, 1))).toMatchObject({ verdict: VERDICT.FORWARDED, outDaddr: ip(DB) });
    const off = await setup(kind, cluster(lock), { allowSelf: false });
    expect(off.one(syn(DB, VIP, 40000, 5432, 1))).toMatchObject({ verdict: VERDICT.DROPPED, dropReason: DROP.POLICY_DENIED });
  });

  it('recompiles on a policy change and judges established connections again (policyRecheckEstablished)', async () => {
    for (const recheck of [true, false]) {
      const dp = await createDataplane(kind, { ...SMALL_LIMITS, policyRecheckEstablished: recheck });
      const alloc = new Allocations();
      const before = cluster(policies());
      const plan1 = planCluster(before, resolveCompileOptions(before), alloc);
      programPlan(dp, plan1, undefined, alloc);
      const batch = dp.allocBatch(1);
      const send = (p: ReturnType<typeof syn>, t: number) => { batch.set(0, p); dp.process(batch, 1, t * 1000); return batch.get(0); };
      expect(send(syn(API, DB, 40000, 5432, 0), 1).verdict).toBe(VERDICT.FORWARDED);
      const after = cluster(policies([dbIn]));
      const plan2 = planCluster(after, resolveCompileOptions(after), alloc);
      const report = programPlan(dp, plan2, plan1, alloc);
      expect(report.policy.upserted).toBeGreaterThan(0);
      const next = send({ ...syn(API, DB, 40000, 5432, 0), tcpFlags: TCP.ACK }, 2);
      expect(next.verdict).toBe(recheck ? VERDICT.DROPPED : VERDICT.FORWARDED);
      expect(send(syn(WEB, DB, 40001, 5432, 0), 3).verdict).toBe(VERDICT.FORWARDED);
      expect(send(syn(API, DB, 40002, 5432, 0), 3).verdict).toBe(VERDICT.DROPPED);
      // The policy goes away: its entries are deleted and the pod is no longer isolated.
      const gone = cluster(policies());
      const plan3 = planCluster(gone, resolveCompileOptions(gone), alloc);
      const r3 = programPlan(dp, plan3, plan2, alloc);
      expect(r3.policy.deleted).toBe(report.policy.upserted);
      expect(send(syn(API, DB, 40003, 5432, 0), 4).verdict).toBe(VERDICT.FORWARDED);
    }
  });

  it('refuses malformed policy keys with a clear message, before writing anything', async () => {
    const dp = await createDataplane(kind, SMALL_LIMITS);
    expect(() => dp.upsertPolicy({ endpoint: 1, identity: 0, port: 80, proto: 0, dir: 0 }, { rule: 1, verdict: 1 }))
      .toThrow(/any protocol \(0\) takes no port/);
    expect(() => dp.upsertPolicy({ endpoint: 1, identity: 0, port: 81, proto: 6, dir: 0, portPrefix: 15 }, { rule: 1, verdict: 1 }))
      .toThrow(/port 81 has bits below its \/15 block/);
    expect(() => dp.upsertPolicy({ endpoint: 1, identity: 0, port: 80, proto: 6, dir: 0, portPrefix: 17 }, { rule: 1, verdict: 1 }))
      .toThrow(/fields out of range/);
    expect(() => dp.upsertPolicy({ endpoint: 1, identity: 0, port: 80, proto: 6, dir: 0 }, { rule: 1, verdict: 4 }))
      .toThrow(/bad rule or verdict/);
  });

  it('port blocks: an entry for 1024/6 covers 1024-2047, and a longer block inside it wins', async () => {
    const dp = await createDataplane(kind, SMALL_LIMITS);
    dp.setNode(0, ip('192.168.0.1'));
    dp.upsertIpcache(ip(DB), 32, { identity: 300, endpoint: 5, node: 0, flags: 1 | 4 });
    dp.upsertIpcache(ip(WEB), 32, { identity: 301, endpoint: 6, node: 0, flags: 1 });
    dp.upsertPolicy({ endpoint: 5, identity: 301, port: 1024, proto: 6, dir: 0, portPrefix: 6 }, { rule: 7, verdict: 1 });
    dp.upsertPolicy({ endpoint: 5, identity: 0, port: 1500, proto: 6, dir: 0, portPrefix: 16 }, { rule: 8, verdict: 2 });
    dp.upsertPolicy({ endpoint: 5, identity: 301, port: 1536, proto: 6, dir: 0, portPrefix: 7 }, { rule: 9, verdict: 3 });
    const batch = dp.allocBatch(8);
    const ports = [1023, 1024, 1500, 1535, 1536, 2047, 2048];
    ports.forEach((p, i) => batch.set(i, syn(WEB, DB, 30000 + i, p, 0)));
    dp.process(batch, ports.length, 1000);
    expect(ports.map((_, i) => [batch.get(i).dropReason, batch.get(i).policyRule])).toEqual([
      [DROP.POLICY_DENIED, 0], [0, 7], [0, 7], [0, 7], [DROP.POLICY_DENIED, 9], [DROP.POLICY_DENIED, 9], [DROP.POLICY_DENIED, 0],
    ]);
    // Deleting the /7 block uncovers the /6 one again.
    expect(dp.deletePolicy({ endpoint: 5, identity: 301, port: 1536, proto: 6, dir: 0, portPrefix: 7 })).toBe(true);
    batch.set(0, syn(WEB, DB, 31000, 1536, 0));
    dp.process(batch, 1, 2000);
    expect(batch.get(0)).toMatchObject({ verdict: VERDICT.FORWARDED, policyRule: 7 });
  });

  it('refuses a bad CIDR in a policy built by hand, naming the policy and the field', async () => {
    const bad = np('prod', 'oops', { ingress: [rule([ipBlock('10.0.0.0/8', ['10.1.0.0/33'])])] });
    await expect(setup(kind, cluster(policies([bad])))).rejects.toThrow(
      'NetworkPolicy prod/oops: spec.ingress[0].from[0].ipBlock.except[0]: "10.1.0.0/33" is not an IPv4 CIDR');
  });

  it('hostNetwork pods are their node: policies selecting them change nothing (hostNetworkExempt)', async () => {
    const m = cluster(policies([np('prod', 'deny-all', { podSelector: sel(), policyTypes: ['Ingress', 'Egress'] })]));
    m.pods.push({ ...pod('prod', 'agent', { app: 'agent' }, '192.168.0.1', 'n1'), hostNetwork: true });
    const { one } = await setup(kind, m);
    expect(one(syn('192.168.0.1', '192.168.0.2', 40000, 10250, 0)).verdict).toBe(VERDICT.FORWARDED);
    await expect(setup(kind, m, { hostNetworkExempt: false })).rejects.toThrow(/hostNetworkExempt=false is not supported/);
  });
});

describe('dpemu trace', () => {
  it('explains a policy decision: the rule that allowed it, or the isolating policies', async () => {
    const m = cluster(policies([dbIn]));
    const tracer = await createTracer(m, { flows: 1024 });
    const out = traceLines(tracer, [
      JSON.stringify({ src: WEB, dst: VIP, sport: 40000, dport: 5432 }),
      JSON.stringify({ src: API, dst: VIP, sport: 40001, dport: 5432 }),
      JSON.stringify({ src: DB, dst: WEB, sport: 40002, dport: 8080 }),
    ]) as { policy: string | null; verdict: string }[];
    expect(out.map((r) => [r.verdict, r.policy])).toEqual([
      ['FORWARDED', 'ingress allowed by NetworkPolicy prod/db-in ingress[0]'],
      ['DROPPED', 'dropped: ingress isolated by NetworkPolicy prod/db-in; no rule matched'],
      ['FORWARDED', 'allowed: no policy isolates it, or it is exempt (own node, self)'],
    ]);
  });
});
