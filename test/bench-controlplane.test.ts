// The control-plane benchmark and the fast path it measures: a change of one EndpointSlice re-plans only
// its service (src/k8s/runtime.ts applyEndpointSlice). The fast path must leave the dataplane exactly as
// the full reload does: random EndpointSlice changes go to two runtimes, one incremental and one not, and
// after each the plans, the reports and what packets become are compared. No timing assertions.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDataplane } from '../src/node.js';
import { loadManifests, ManifestFile } from '../src/k8s/load.js';
import { limitsForModel, Plan } from '../src/k8s/compile.js';
import { ClusterRuntime } from '../src/k8s/runtime.js';
import { Prng } from '../src/common/prng.js';
import { ip } from '../src/common/ip.js';
import { PROTO, TCP } from '../src/packet.js';
import { runControlPlane, controlPlaneObjects } from '../src/bench/controlplane.js';
import { NODES_YAML } from './k8s/helpers.js';

const BASE = `${NODES_YAML}---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {topology.kubernetes.io/zone: z1}}
spec: {podCIDR: 10.0.3.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.3}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP, targetPort: 5353}]}
---
apiVersion: v1
kind: Service
metadata: {name: np, namespace: default}
spec: {type: NodePort, clusterIP: 10.96.0.11, externalTrafficPolicy: Local, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: loc, namespace: default}
spec: {clusterIP: 10.96.0.12, internalTrafficPolicy: Local, sessionAffinity: ClientIP, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec: {type: LoadBalancer, clusterIP: 10.96.0.13, loadBalancerSourceRanges: [203.0.113.0/24], ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}
status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}
`;

const SERVICES = [
  { name: 'web', vip: '10.96.0.10', ports: [{ name: 'http', port: 8080, protocol: 'TCP', svcPort: 80 }, { name: 'dns', port: 5353, protocol: 'UDP', svcPort: 53 }] },
  { name: 'np', vip: '10.96.0.11', ports: [{ name: 'http', port: 8080, protocol: 'TCP', svcPort: 80 }] },
  { name: 'loc', vip: '10.96.0.12', ports: [{ name: 'http', port: 8080, protocol: 'TCP', svcPort: 80 }] },
  { name: 'lb', vip: '10.96.0.13', ports: [{ name: 'http', port: 8080, protocol: 'TCP', svcPort: 80 }] },
];

interface Ep { addr: string; node: string; ready: boolean; serving: boolean; terminating: boolean; hints?: string[] }

function sliceFile(path: string, svc: typeof SERVICES[number], part: number, eps: Ep[]): ManifestFile {
  const obj = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${svc.name}-${part}`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc.name } },
    addressType: 'IPv4', ports: svc.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    endpoints: eps.map((e) => ({
      addresses: [e.addr], nodeName: e.node, conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      targetRef: { kind: 'Pod', namespace: 'default', name: `pod-${e.addr.replace(/\./g, '-')}` },
      ...(e.hints ? { hints: { forZones: e.hints.map((z) => ({ name: z })) } } : {}),
    })),
  };
  return { path, text: JSON.stringify(obj) };
}

/** Endpoint pool: address i lives on one node for good (a backend keeps its node). */
function endpoint(rng: Prng, i: number): Ep {
  const node = `n${(i % 3) + 1}`;
  const r = rng.next() % 10;
  return {
    addr: `10.0.${(i % 3) + 1}.${10 + i}`, node,
    ready: r < 7, serving: r < 8 || r === 9, terminating: r >= 7,
  };
}

function planView(p: Plan) {
  const services = [...p.services.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, s]) => [k, s.index, s.backends.join(','), s.flags, s.affinityTimeout, s.maglevM, s.rule, s.sourceRanges.join(',')]);
  const frontends = [...p.frontends.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, f]) => [k, f.service, f.kind]);
  const udp = [...p.udpServing.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, s]) => [k, [...s].sort().join(',')]);
  const ports = [...p.servicePorts.keys()].sort();
  return { services, frontends, udp, ports, warnings: p.warnings };
}

describe('control plane: one EndpointSlice change, incremental vs full reload', () => {
  it.each(['random', 'maglev'] as const)('random slice changes leave the same plan, reports and packet fates (%s)', async (algo) => {
    const rng = new Prng(algo === 'random' ? 11 : 12);
    const initial: ManifestFile[] = [{ path: 'base.yaml', text: BASE }];
    for (const svc of SERVICES) for (const part of [1, 2]) {
      initial.push(sliceFile(`${svc.name}-${part}.json`, svc, part, Array.from({ length: 3 }, (_, j) => endpoint(rng, part * 10 + j + SERVICES.indexOf(svc) * 20))));
    }
    const limits = { ...limitsForModel(loadManifests(initial).model, 4096, { algo }), maxBackends: 1024, maxSlots: 4096, maxServices: 256, maxFrontends: 1024, seed: 3 };
    const dpFast = await createDataplane('wasm', limits), dpFull = await createDataplane('wasm', limits);
    const fast = ClusterRuntime.create(dpFast, initial, { algo });
    const full = ClusterRuntime.create(dpFull, initial, { algo, incremental: false });
    const batchFast = dpFast.allocBatch(64), batchFull = dpFull.allocBatch(64);
    let t = 1000, sport = 20000;
    // UDP flows to web's dns port stay open across changes, so flushes are compared too.
    for (let step = 0; step < 60; step++) {
      const svc = SERVICES[rng.next() % SERVICES.length];
      const part = 1 + (rng.next() % 2);
      const n = rng.next() % 5;
      const base = part * 10 + SERVICES.indexOf(svc) * 20;
      const eps = Array.from({ length: n }, (_, j) => endpoint(rng, base + ((j + rng.next()) % 6)))
        .filter((e, i, all) => all.findIndex((x) => x.addr === e.addr) === i);
      if (step % 13 === 7 && eps.length) eps.forEach((e) => { e.hints = [e.node === 'n2' ? 'z2' : 'z1']; e.ready = true; });
      const path = step % 4 === 0 ? `${svc.name}-${part}.json` : `change-${step}.json`;
      const file = sliceFile(path, svc, part, eps);
      const rf = fast.apply([file]), rl = full.apply([file]);
      expect({ services: rf.services, backends: rf.backends, flushed: rf.flushed, frontends: rf.frontends }, `step ${step}`)
        .toEqual({ services: rl.services, backends: rl.backends, flushed: rl.flushed, frontends: rl.frontends });
      expect(planView(fast.compiled.plan), `step ${step}`).toEqual(planView(full.compiled.plan));

      // Packets: a SYN to each service port from a pod and from outside, and a UDP query, on each node.
      t += 2000;
      let k = 0;
      for (const s of SERVICES) for (const p of s.ports) for (const node of [0, 1, 2]) {
        const pkt = { saddr: ip(k % 2 ? '10.0.1.200' : '203.0.113.7'), daddr: ip(s.vip), sport: sport++, dport: p.svcPort,
          proto: p.protocol === 'UDP' ? PROTO.UDP : PROTO.TCP, tcpFlags: p.protocol === 'UDP' ? 0 : TCP.SYN, node };
        batchFast.set(k, pkt); batchFull.set(k, pkt); k++;
      }
      dpFast.process(batchFast, k, t); dpFull.process(batchFull, k, t);
      for (let i = 0; i < k; i++) expect(batchFast.get(i), `step ${step}, packet ${i}`).toEqual(batchFull.get(i));
    }
    // Both paths were exercised: the fast one for plain changes, the full one where it declines (hints, source ranges).
    expect(fast.applied.incremental).toBeGreaterThan(20);
    expect(fast.applied.full).toBeGreaterThan(0);
    expect(full.applied.incremental).toBe(0);
  });

  it('declines what it cannot do alone: a new slice, a slice moved to another service, other kinds', async () => {
    const rng = new Prng(5);
    const initial: ManifestFile[] = [{ path: 'base.yaml', text: BASE }, sliceFile('web-1.json', SERVICES[0], 1, [endpoint(rng, 1)])];
    const dp = await createDataplane('wasm', limitsForModel(loadManifests(initial).model, 1024));
    const rt = ClusterRuntime.create(dp, initial);
    rt.apply([sliceFile('web-2.json', SERVICES[0], 2, [endpoint(rng, 2)])]); // new object
    expect(rt.applied).toEqual({ incremental: 0, full: 1 });
    rt.apply([sliceFile('web-2b.json', SERVICES[0], 2, [endpoint(rng, 3)])]); // replacement
    expect(rt.applied).toEqual({ incremental: 1, full: 1 });
    const moved = JSON.parse(sliceFile('x.json', SERVICES[0], 2, [endpoint(rng, 3)]).text);
    moved.metadata.labels['kubernetes.io/service-name'] = 'np';
    rt.apply([{ path: 'moved.json', text: JSON.stringify(moved) }]);
    expect(rt.applied).toEqual({ incremental: 1, full: 2 });
    expect(rt.compiled.plan.services.get('default/web:http/TCP|cluster-ip|any|')!.backends).toHaveLength(1);
    // A slice the loader warns about goes the full way (its warning appears), and so does the one replacing it
    // (the warning goes away).
    const beta = JSON.parse(sliceFile('beta.json', SERVICES[0], 1, [endpoint(rng, 4)]).text);
    beta.apiVersion = 'discovery.k8s.io/v1beta1';
    rt.apply([{ path: 'beta.json', text: JSON.stringify(beta) }]);
    expect(rt.applied).toEqual({ incremental: 1, full: 3 });
    expect(rt.warnings.map((w) => w.code)).toContain('api-version');
    rt.apply([sliceFile('clean.json', SERVICES[0], 1, [endpoint(rng, 4)])]);
    expect(rt.applied).toEqual({ incremental: 1, full: 4 });
    expect(rt.warnings.map((w) => w.code)).not.toContain('api-version');
    rt.apply([sliceFile('clean2.json', SERVICES[0], 1, [endpoint(rng, 5)])]);
    expect(rt.applied).toEqual({ incremental: 2, full: 4 });
    // A bad slice is refused with the loader's message, and nothing changes.
    const bad = JSON.parse(sliceFile('bad.json', SERVICES[0], 1, [endpoint(rng, 1)]).text);
    bad.endpoints[0].addresses = ['10.0.1.999'];
    expect(() => rt.apply([{ path: 'bad.json', text: JSON.stringify(bad) }])).toThrow(/bad\.json: document 1 \(EndpointSlice default\/web-1\): endpoints\[0\]\.addresses\[0\]/);
    expect(rt.compiled.plan.services.get('default/web:http/TCP|cluster-ip|any|')!.backends).toHaveLength(1);
  });
});

describe('bench --control-plane', () => {
  it('generates the cluster it says: services, endpoints spread evenly, one slice per service', () => {
    const o = controlPlaneObjects(7, 30, 4);
    expect(o.services).toHaveLength(7);
    expect(o.slices).toHaveLength(7);
    expect(o.nodes).toHaveLength(4);
    const counts = o.slices.map((s) => (s as { endpoints: unknown[] }).endpoints.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    const { model, warnings } = loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...o.nodes, ...o.services, ...o.slices] }) }]);
    expect(warnings).toEqual([]);
    expect(model.services).toHaveLength(7);
  });

  it('reports compile phases and endpoint changes with their targets (tiny sizes)', async () => {
    const r = await runControlPlane({ services: 20, endpoints: 70, nodes: 3, compiles: 2, changes: 30 });
    expect(r).toMatchObject({ control_plane: true, services: 20, endpoints: 70, nodes: 3, objects: 43 });
    expect(r.compile.runs_ms).toHaveLength(2);
    for (const k of ['parse_ms', 'load_ms', 'compile_ms', 'objects_to_maps_ms', 'total_ms'] as const) expect(r.compile[k]).toBeGreaterThanOrEqual(0);
    expect(r.compile.total_ms).toBeGreaterThanOrEqual(r.compile.objects_to_maps_ms);
    expect(r.compile.target_ms).toBe(1000);
    expect(r.compile.pass).toBe(r.compile.objects_to_maps_ms < 1000);
    expect(r.endpoint_change).toMatchObject({ changes: 30, target_us: 100 });
    expect(r.endpoint_change.p99_us).toBeGreaterThanOrEqual(r.endpoint_change.median_us);
    expect(r.endpoint_change.pass).toBe(r.endpoint_change.median_us < 100);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('dpemu bench: --control-plane and --micro on the command line', () => {
  const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'bench', ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });

  it('--control-plane --quick --json prints one JSON object with the compile and change figures', () => {
    const r = run(['--control-plane', '--quick', '--changes', '20', '--json', '-q']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ control_plane: true, services: 100, endpoints: 1000, compile: { runs: 1, target_ms: 1000 }, endpoint_change: { changes: 20, target_us: 100 } });
  }, 60_000);

  it('--micro --quick prints the table of stages', () => {
    const r = run(['--micro', '--quick', '-q']);
    expect(r.status, r.stderr).toBe(0);
    for (const s of ['hash lookup, hot set', 'conntrack hit', 'service lookup', 'policy lookup', 'NAT rewrite', 'maglev build M=65521 N=1000']) expect(r.stdout).toContain(s);
  }, 60_000);

  it('refuses mixed modes and options a mode does not take (exit 2)', () => {
    const a = run(['--micro', '--control-plane']);
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('--micro and --control-plane are different runs; pick one');
    const b = run(['--control-plane', '--flows', '10']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('--control-plane takes --services, --endpoints, --changes and --quick; drop --flows');
    const c = run(['--endpoints', '10']);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain('--endpoints and --changes are only used with --control-plane');
  }, 60_000);

  it('--policy --quick --json: compile figures, map entries and the with/without-policy costs', () => {
    const r = run(['--policy', '--quick', '--pods', '300', '--policies', '20', '--json', '-q']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ pods: 300, networkPolicies: 20 });
    expect(j.policyEntries).toBeGreaterThan(0);
    expect(j.identities).toBeGreaterThan(1);
    for (const k of ['newflow', 'newflowAllowed', 'fastpath']) expect(j[k].nsWith).toBeGreaterThan(0);
    // 20 policies over 300 pods isolate some of them: part of the random traffic is dropped.
    expect(j.newflow.droppedWith).toBeGreaterThan(0);
    const bad = run(['--pods', '10']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--pods and --policies are only used with --policy');
  }, 60_000);
});
