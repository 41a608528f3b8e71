// dpemu run's engine: reproducible, the figures a small cluster must give, popularity, DNS as packets
// (blocked by policy like any packet), and the errors a bad spec gets.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createEmulator } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { parseTrafficSpec } from '../../src/run/spec.js';
import { runTraffic } from '../../src/run/run.js';
import { zipfCdf } from '../../src/run/generator.js';
import { PKT, TCP } from '../../src/packet.js';
import { formatIPv4 } from '../../src/common/ip.js';
import { InputError } from '../../src/errors.js';

const APP = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: x}
spec:
  replicas: 2
  selector: {matchLabels: {app: client}}
  template: {metadata: {labels: {app: client}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: x}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}}
${['a', 'b', 'c', 'd'].map((n) => `---
apiVersion: v1
kind: Service
metadata: {name: ${n}, namespace: x}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}`).join('\n')}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`;
const COREDNS = readManifestFiles('examples/payments/cluster/00-kube-system.yaml');
const cluster = (extra = '') => ({ files: [...COREDNS, { path: 'app.yaml', text: APP + extra }] });

/** SYNs by destination address, from the processed descriptors. */
function synCounter() {
  const counts = new Map<string, number>();
  const onBatch = (u8: Uint8Array, n: number) => {
    const dv = new DataView(u8.buffer, u8.byteOffset, n * PKT.STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * PKT.STRIDE;
      if (dv.getUint8(o + PKT.TCP_FLAGS) !== TCP.SYN) continue;
      const d = formatIPv4(dv.getUint32(o + PKT.DADDR, true));
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
  };
  return { counts, onBatch };
}

describe('dpemu run', () => {
  it('gives the same result for the same seed, and another for another seed', async () => {
    const spec = (seed: number) => parseTrafficSpec({ duration: 1, seed, traffic: [{ from: 'deploy/x/client', to: 'a:80', rate: 300, requests: 2 }, { from: 'deploy/x/client', to: 'a:80', proto: 'UDP', rate: 100 }] });
    const once = async (seed: number) => {
      const emu = await createEmulator({ cluster: cluster() });
      const r = await runTraffic(emu, spec(seed));
      return JSON.stringify({ e: r.entries, c: emu.counters(), ct: emu.conntrack() });
    };
    const a = await once(3), b = await once(3), c = await once(4);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('on a cluster whose outcome is known: every connection completes with its full lifecycle', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    const spec = parseTrafficSpec({ duration: 2, traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 500, requests: 1 }] });
    const r = await runTraffic(emu, spec);
    const st = r.entries[0].stats;
    // Poisson arrivals at 500/s over 2 s: 1000 expected, sd ~32.
    expect(Math.abs(st.opened - 1000)).toBeLessThan(130);
    expect(st.completed).toBe(st.opened);
    // SYN, SYN-ACK, ACK, request, response, FIN, FIN, ACK.
    expect(st.packets).toBe(st.opened * 8);
    expect(r.packets).toBe(st.packets);
    expect(emu.counters().verdicts.FORWARDED).toBe(r.packets);
    // Every reply was reverse-NATed: the connections' replies matched conntrack (REPLY), none was new. Each
    // connection made one entry on the client's node, and one more on the backend's when that is another node
    // (conntrack is per node).
    expect(emu.counters().ctCreated).toBeGreaterThanOrEqual(st.opened);
    expect(emu.counters().ctCreated).toBeLessThanOrEqual(2 * st.opened);
  });

  it('spreads connections over targets by Zipf popularity (chi-square fit)', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    const spec = parseTrafficSpec({ duration: 4, seed: 9, traffic: [{ from: 'deploy/x/client', to: ['svc/x/a:80', 'svc/x/b:80', 'svc/x/c:80', 'svc/x/d:80'], rate: 1000, popularity: { zipf: 1.2 } }] });
    const { counts, onBatch } = synCounter();
    const r = await runTraffic(emu, spec, { onBatch });
    const ips = ['a', 'b', 'c', 'd'].map((n) => emu.services().find((s) => s.service === `x/${n}:80`)!.frontends[0].address.split(':')[0]);
    const observed = ips.map((ip) => counts.get(ip) ?? 0);
    const total = observed.reduce((x, y) => x + y, 0);
    expect(total).toBe(r.entries[0].stats.opened);
    const cdf = zipfCdf(4, 1.2);
    const expected = [...cdf].map((c, i) => (c - (i ? cdf[i - 1] : 0)) * total);
    const chi2 = observed.reduce((s, o, i) => s + (o - expected[i]) ** 2 / expected[i], 0);
    expect(chi2).toBeLessThan(16.27); // chi-square, 3 degrees of freedom, p = 0.001
    expect(observed[0]).toBeGreaterThan(observed[3] * 3);
  });

  it('resolves names through the client pod\'s search list, each query a packet to kube-dns', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    const spec = parseTrafficSpec({ duration: 1, traffic: [
      { from: 'deploy/x/client', to: 'a:80', rate: 100 },
      { from: 'deploy/x/client', to: 'web.other:80', rate: 100 },
      { from: 'deploy/x/client', to: 'a.x.svc.cluster.local.:80', rate: 100 },
      { from: 'deploy/x/client', to: 'nothing:80', rate: 50 },
    ] });
    const r = await runTraffic(emu, spec);
    const q = r.entries.map((e) => e.stats.dnsQueries / e.stats.dnsLookups);
    // "a": a.x.svc.cluster.local answers first; "web.other" (1 dot < ndots 5): x.svc... NXDOMAIN, then
    // web.other.svc.cluster.local; an absolute name: one query; "nothing": the three search domains and the name itself.
    expect(q).toEqual([1, 2, 1, 4]);
    for (const i of [0, 2]) expect(r.entries[i].stats.completed).toBe(r.entries[i].stats.opened);
    // other/web has no endpoints: resolved, then refused (kube-proxy rejects a Service without endpoints).
    expect(r.entries[1].stats.failedAt.connect).toBe(r.entries[1].stats.opened);
    expect(emu.counters().verdicts.REJECTED).toBe(r.entries[1].stats.opened);
    expect(r.entries[3].stats).toMatchObject({ completed: 0, dnsBlocked: 0 });
    expect(r.entries[3].stats.dnsFailed).toBe(r.entries[3].stats.opened);
    // DNS is UDP to port 53 through the dataplane: conntrack saw those flows.
    expect(emu.conntrack().some((f) => f.proto === 'UDP' && f.dport === 53 && f.service === 'kube-system/kube-dns:dns')).toBe(true);
  });

  it('fails lookups when an egress policy blocks DNS, as a cluster would', async () => {
    const deny = `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress]}`;
    const emu = await createEmulator({ cluster: cluster(deny) });
    const r = await runTraffic(emu, parseTrafficSpec({ duration: 1, traffic: [{ from: 'deploy/x/client', to: 'a:80', rate: 100 }] }));
    const st = r.entries[0].stats;
    expect(st.opened).toBeGreaterThan(50);
    expect(st).toMatchObject({ completed: 0, dnsBlocked: st.opened, dnsFailed: st.opened });
    expect(st.failedAt.dns).toBe(st.opened);
    expect(emu.counters().drops.POLICY_DENIED).toBe(st.opened);
  });

  it('keeps established connections through a change that adds pods (running pods keep their addresses)', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    const before = emu.backends().map((b) => `${b.pod} ${b.backend}`).sort();
    const spec = parseTrafficSpec({ duration: 2, traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 200, lifetime: 0.5, requests: 3 }],
      churn: [{ at: 1, scale: 'deploy/x/web', replicas: 5 }] });
    const r = await runTraffic(emu, spec, { clusterFiles: cluster().files });
    expect(r.entries[0].stats.failed).toBe(0);
    const after = emu.backends().map((b) => `${b.pod} ${b.backend}`).sort();
    for (const b of before) expect(after).toContain(b);
    expect(after.length).toBeGreaterThan(before.length);
  });

  it('names the field of a bad spec', () => {
    const err = (v: unknown) => { try { parseTrafficSpec(v); } catch (e) { expect(e).toBeInstanceOf(InputError); return (e as Error).message; } return ''; };
    expect(err({ traffic: [{ from: 'deploy/x/client' }] })).toBe('traffic spec: traffic[0].to: undefined is not a non-empty string');
    expect(err({ traffic: [{ from: 'g', to: 'a:80', rate: 1 }] })).toMatch(/traffic\[0\]\.from: "g" is neither a client group/);
    expect(err({ traffic: [{ from: 'deploy/x/c', to: 'a:80', rate: -1 }] })).toMatch(/traffic\[0\]\.rate: -1 is not a number/);
    expect(err({ traffic: [{ from: 'deploy/x/c', to: 'a:80', rate: 1, popularity: 'pareto' }] })).toMatch(/popularity/);
    expect(err({ duration: '2 weeks', traffic: [] })).toMatch(/duration/);
    expect(err({ traffic: [{ from: 'deploy/x/c', to: 'a:80', rate: 1 }], churn: [{ at: 9, scale: 'deploy/x/web', replicas: 1 }] })).toMatch(/churn\[0\]\.at: 9 s is after the end/);
  });

  it('random specs: only InputErrors escape, and a huge value is never repeated', () => {
    const entry = fc.record({ from: fc.oneof(fc.string(), fc.jsonValue()), to: fc.oneof(fc.string(), fc.array(fc.string()), fc.jsonValue()), rate: fc.jsonValue(),
      proto: fc.jsonValue(), size: fc.jsonValue(), popularity: fc.jsonValue(), close: fc.jsonValue() }, { requiredKeys: [] });
    const spec = fc.record({ duration: fc.jsonValue(), seed: fc.jsonValue(), clients: fc.jsonValue(), traffic: fc.oneof(fc.array(entry), fc.jsonValue()), churn: fc.jsonValue() }, { requiredKeys: [] });
    fc.assert(fc.property(fc.oneof(spec, fc.jsonValue()), (v) => {
      try { parseTrafficSpec(v); } catch (e) { if (!(e instanceof InputError)) throw e; }
    }), { numRuns: 300 });
    try { parseTrafficSpec({ traffic: [{ from: 'x'.repeat(1e6), to: 'a:80', rate: 1 }] }); } catch (e) { expect((e as Error).message.length).toBeLessThan(400); }
  });

  it('names the field when a spec refers to what the cluster lacks', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    await expect(runTraffic(emu, parseTrafficSpec({ traffic: [{ from: 'deploy/x/nope', to: 'a:80', rate: 1 }] }))).rejects.toThrow(/clients\.deploy\/x\/nope: Deployment x\/nope has no pods/);
    await expect(runTraffic(emu, parseTrafficSpec({ traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:81', rate: 1 }] }))).rejects.toThrow(/traffic\[0\]\.to: Service x\/a has no TCP port 81/);
  });

  it('runs the built-in example as documented', () => {
    const spec = parseTrafficSpec(readFileSync('examples/payments/traffic.yaml', 'utf8'));
    expect(spec.traffic.length).toBeGreaterThan(5);
  });
});

describe('dpemu run with HTTP requests', () => {
  it('routes each connection\'s request by the Gateway first, then connects to the Service it chose', async () => {
    const emu = await createEmulator({ cluster: { files: readManifestFiles('examples/gateway') } });
    const spec = parseTrafficSpec({ duration: 1, clients: { internet: { external: '198.51.100.0/28', count: 4 } }, traffic: [
      { from: 'internet', to: 'gateway/infra/public:80', rate: 100, http: { method: 'GET', host: 'shop.example.com', path: '/cart' } },
      { from: 'internet', to: '203.0.113.50:80', rate: 50, http: { host: 'nobody.example.org', path: '/' } },
    ] });
    const r = await runTraffic(emu, spec);
    const [routed, unknown] = r.entries.map((e) => e.stats);
    expect(Object.keys(routed.http)).toEqual(['200']);
    expect(routed.http['200']).toBe(routed.opened);
    expect(routed.completed).toBe(routed.opened);
    expect(routed.packets).toBe(routed.opened * 8); // the connections went on to the Service, full lifecycles
    expect(emu.conntrack().some((f) => f.service?.startsWith('store/store-v'))).toBe(true);
    expect(Object.keys(unknown.http)).toEqual(['404']);
    expect(unknown.packets).toBe(0); // the proxy answered: no dataplane packet
  });

  it('names a bad http field and refuses it over UDP', () => {
    expect(() => parseTrafficSpec({ traffic: [{ from: 'deploy/a/b', to: '1.2.3.4:80', rate: 1, http: { path: 7 } }] })).toThrow(/traffic\[0\]\.http: 7 is not a string/);
    expect(() => parseTrafficSpec({ traffic: [{ from: 'deploy/a/b', to: '1.2.3.4:80', proto: 'UDP', rate: 1, http: {} }] })).toThrow(/needs proto TCP/);
  });
});

describe('dpemu run churn', () => {
  it('applies and deletes manifests at their times; new connections follow, established ones keep their backend', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-churn-'));
    writeFileSync(join(dir, 'extra.yaml'), `
apiVersion: v1
kind: Service
metadata: {name: late, namespace: x}
spec: {selector: {app: web}, ports: [{port: 81, targetPort: 8080}]}
`);
    const emu = await createEmulator({ cluster: cluster() });
    const spec = parseTrafficSpec({ duration: 2, traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 200, lifetime: 0.3, requests: 2 }],
      churn: [{ at: 0.5, apply: 'extra.yaml' }, { at: 1, delete: { kind: 'Service', namespace: 'x', name: 'b' } }] });
    const r = await runTraffic(emu, spec, { clusterFiles: cluster().files, readFiles: (paths) => readManifestFiles(paths.map((p) => join(dir, p))) });
    expect(r.changes.map((c) => c.what)).toEqual(['apply extra.yaml', 'delete Service x/b']);
    expect(emu.services().map((s) => s.service)).toContain('x/late:81');
    expect(emu.services().map((s) => s.service)).not.toContain('x/b:80');
    expect(r.entries[0].stats.failed).toBe(0);
    // A churn event the cluster cannot take is an error naming it, before the run goes on.
    const bad = parseTrafficSpec({ duration: 1, traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 10 }], churn: [{ at: 0.1, scale: 'deploy/x/nothing', replicas: 2 }] });
    await expect(runTraffic(await createEmulator({ cluster: cluster() }), bad, { clusterFiles: cluster().files })).rejects.toThrow(/churn scale: no Deployment x\/nothing/);
  });

  it('fails a node and restarts it: connections through it break, then it serves again', async () => {
    const emu = await createEmulator({ cluster: cluster() });
    // a node with a web pod and no client (the clients keep sending; the web pods there stop answering)
    const pods = emu.endpoints().filter((e) => e.kind === 'pod' && e.namespace === 'x');
    const clientNodes = new Set(pods.filter((p) => p.labels.app === 'client').map((p) => p.node));
    const node = pods.find((p) => p.labels.app === 'web' && !clientNodes.has(p.node))!.node!;
    const spec = parseTrafficSpec({ duration: 2, traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 200, lifetime: 0.8, requests: 4 }],
      churn: [{ at: 0.5, fail: node, for: 0.5 }] });
    const chosen = () => new Set(emu.services().find((s) => s.service === 'x/a:80' && s.scope === 'any')!.backends);
    const all = chosen();
    const r = await runTraffic(emu, spec, { clusterFiles: cluster().files });
    expect(r.changes.map((c) => c.what)).toEqual([`fail ${node} (down for 0.5 s)`, `${node} restarted`]);
    expect(r.entries[0].stats.failed).toBeGreaterThan(0); // connections to its pods broke
    expect(chosen()).toEqual(all); // ready again after the restart
    expect(() => parseTrafficSpec({ traffic: [{ from: 'deploy/x/client', to: 'svc/x/a:80', rate: 1 }], churn: [{ at: 1, fail: 3 }] })).toThrow(/churn\[0\]\.fail/);
  });
});
