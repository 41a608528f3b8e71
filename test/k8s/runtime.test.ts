// ClusterRuntime: apply and delete manifests on a live dataplane, and only
// what changed is reprogrammed. Established TCP flows keep their endpoint,
// UDP flows of endpoints that stopped serving are flushed (kube-proxy
// pkg/proxy/conntrack/cleanup.go), Maglev moves (almost) only the removed
// endpoint's flows. On the WASM core and on the reference.
import { describe, it, expect } from 'vitest';
import { createDataplane, BackendKind } from '../../src/node.js';
import { loadManifests, ManifestFile } from '../../src/k8s/load.js';
import { CompileOptions, limitsForModel } from '../../src/k8s/compile.js';
import { ClusterRuntime } from '../../src/k8s/runtime.js';
import { Tracer, TraceRecord } from '../../src/trace.js';
import { maglevTable } from '../../src/controlplane/maglev.js';
import { hashTuple } from '../../src/common/hash.js';
import { ip } from '../../src/common/ip.js';
import { PROTO } from '../../src/packet.js';
import { fixtureFiles } from './helpers.js';

interface Pkt { src: string; dst: string; sport: number; dport: number; proto?: string; flags?: string; node?: string; t?: number }

async function start(kind: BackendKind, files: ManifestFile[], opts: CompileOptions = {}) {
  const model = loadManifests(files).model;
  // Room for growth: the runtime adds nodes and endpoints.
  const dp = await createDataplane(kind, { ...limitsForModel(model, 4096, opts), maxNodes: 16, seed: 3 });
  const rt = ClusterRuntime.create(dp, files, opts);
  const tracer = new Tracer(dp, rt);
  let line = 0;
  const send = (p: Pkt): TraceRecord => {
    const r = tracer.trace(p, ++line);
    if ('error' in r) throw new Error(r.error);
    return r;
  };
  return { dp, rt, send };
}

const text = (path: string, t: string): ManifestFile => ({ path, text: t });

const DNS2 = text('dns-2.yaml', `
apiVersion: v1
kind: Pod
metadata: {name: dns-2, namespace: default, labels: {app: dns}}
spec:
  nodeName: n2
  containers:
    - name: dns
      image: coredns
      ports:
        - {name: dns, containerPort: 5353, protocol: UDP}
        - {name: dns-tcp, containerPort: 5353, protocol: TCP}
        - {name: dns-sctp, containerPort: 5300, protocol: SCTP}
status: {phase: Running, podIP: 10.244.2.53, conditions: [{type: Ready, status: "True"}]}
`);

const CLIENT1 = '10.244.1.100', DNS_VIP = '10.96.1.6', SOLO_VIP = '10.96.1.7';

const kinds: BackendKind[] = ['wasm', 'reference'];

describe.each(kinds)('%s backend', (kind) => {
  it('keeps established TCP flows to a removed endpoint, flushes its UDP flows, and sends new ones elsewhere', async () => {
    const { rt, send } = await start(kind, fixtureFiles('services/cluster'));
    const udp = send({ src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP', t: 0 });
    const tcp = send({ src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53 });
    expect([udp.backend, tcp.backend]).toEqual(['10.244.1.53:5353', '10.244.1.53:5353']);
    send({ src: tcp.dst, dst: CLIENT1, sport: 5353, dport: 6000, flags: 'SA' });
    send({ src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53, flags: 'A' });

    // A second DNS pod: dns-1 still serves, nothing is flushed, its flows stay.
    const add = rt.apply([DNS2]);
    expect(add.objects).toEqual({ added: ['Pod default/dns-2'], replaced: [], removed: [] });
    expect(add.flushed).toEqual([]);
    expect(add.frontends).toEqual({ upserted: 0, deleted: 0 });
    expect(add.services.set).toBe(3); // the three dns ports
    expect(send({ src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP', t: 1 })).toMatchObject({ ct_state: 'ESTABLISHED', backend: '10.244.1.53:5353' });

    // dns-1 goes away: its UDP flow is flushed (the next packet is a new flow, on dns-2); its TCP
    // connection is left alone and keeps going to dns-1.
    const del = rt.delete([{ kind: 'Pod', name: 'dns-1' }]);
    expect(del.flushed).toEqual([{ backend: '10.244.1.53:5353/UDP', flows: 1 }]);
    expect(send({ src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP', t: 2 })).toMatchObject({
      ct_state: 'NEW', backend: '10.244.2.53:5353', dst: '10.244.2.53' });
    expect(send({ src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53, flags: 'A', t: 2 })).toMatchObject({
      verdict: 'FORWARDED', ct_state: 'ESTABLISHED', backend: '10.244.1.53:5353', dst: '10.244.1.53' });
    expect(send({ src: CLIENT1, dst: DNS_VIP, sport: 6001, dport: 53, t: 2 })).toMatchObject({ ct_state: 'NEW', backend: '10.244.2.53:5353' });
  });

  it('a service losing its last endpoint rejects new connections, established ones go on', async () => {
    const { rt, send } = await start(kind, fixtureFiles('services/cluster'));
    const r = send({ src: CLIENT1, dst: SOLO_VIP, sport: 7000, dport: 80 });
    send({ src: r.dst, dst: CLIENT1, sport: 9090, dport: 7000, flags: 'SA' });
    rt.delete([{ kind: 'Pod', namespace: 'default', name: 'solo-1' }]);
    expect(send({ src: CLIENT1, dst: SOLO_VIP, sport: 7000, dport: 80, flags: 'A', t: 1 })).toMatchObject({ ct_state: 'ESTABLISHED', dst: '10.244.2.20' });
    expect(send({ src: CLIENT1, dst: SOLO_VIP, sport: 7001, dport: 80, t: 1 })).toMatchObject({ verdict: 'REJECTED', service: 'default/solo:http' });
  });

  it('programs nothing when nothing changed', async () => {
    const { rt } = await start(kind, fixtureFiles('services/cluster'));
    const r = rt.apply(fixtureFiles('services/cluster'));
    expect(r.objects.added).toEqual([]);
    expect(r.objects.replaced.length).toBeGreaterThan(30);
    expect(r).toMatchObject({ nodes: 0, ipcache: { upserted: 0, deleted: 0 }, backends: { set: 0 }, services: { set: 0, removed: 0 },
      frontends: { upserted: 0, deleted: 0 }, sourceRanges: { upserted: 0, deleted: 0 }, flushed: [] });
  });

  it('moves a changed nodePort and removes a deleted service', async () => {
    const { rt, send } = await start(kind, fixtureFiles('services/cluster'));
    const OUT = '203.0.113.7';
    expect(send({ src: OUT, dst: '192.168.0.1', sport: 1000, dport: 30080 }).service).toBe('default/web-np:http');
    const r = rt.apply([text('np.yaml', `
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.1.2
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30090}]
`)]);
    expect(r.objects.replaced).toEqual(['Service default/web-np']);
    expect(r.frontends).toEqual({ upserted: 3, deleted: 3 });
    expect(r.services).toEqual({ set: 0, removed: 0 });
    expect(send({ src: OUT, dst: '192.168.0.1', sport: 1001, dport: 30080 })).toMatchObject({ service: null, nat: [] });
    expect(send({ src: OUT, dst: '192.168.0.1', sport: 1002, dport: 30090 })).toMatchObject({ service: 'default/web-np:http', dport: 8080 });

    const d = rt.delete([{ kind: 'Service', name: 'web-np' }]);
    expect(d.services.removed).toBe(2); // its cluster IP entry and its external one
    expect(d.frontends).toEqual({ upserted: 0, deleted: 4 });
    expect(send({ src: CLIENT1, dst: '10.96.1.2', sport: 1003, dport: 80 })).toMatchObject({ service: null, nat: [], dst: '10.96.1.2' });
    expect(rt.model.services.some((s) => s.name === 'web-np')).toBe(false);
  });

  it('adds a node: its NodePorts, its Local-policy entries', async () => {
    const { rt, send } = await start(kind, fixtureFiles('services/cluster'));
    rt.apply([text('n4.yaml', `
apiVersion: v1
kind: Node
metadata: {name: n4, labels: {topology.kubernetes.io/zone: z2}}
spec: {podCIDR: 10.244.4.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.4}]}
`)]);
    expect(rt.compiled.nodeIdByName.get('n4')).toBe(3);
    expect(send({ src: '203.0.113.7', dst: '192.168.0.4', sport: 1000, dport: 30080 })).toMatchObject({ node: 'n4', verdict: 'FORWARDED', src: '192.168.0.4' });
    expect(send({ src: '203.0.113.7', dst: '192.168.0.4', sport: 1000, dport: 30081 })).toMatchObject({ node: 'n4', verdict: 'DROPPED' });
  });

  it('refuses manifests that do not load and unknown objects to delete, changing nothing', async () => {
    const { rt, send } = await start(kind, fixtureFiles('services/cluster'));
    expect(() => rt.apply([text('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80x}]}\n')])).toThrow(/bad\.yaml: document 1/);
    expect(() => rt.delete([{ kind: 'Pod', name: 'nope' }])).toThrow(/Pod default\/nope is not in the cluster/);
    expect(send({ src: CLIENT1, dst: '10.96.1.1', sport: 1000, dport: 80 })).toMatchObject({ verdict: 'FORWARDED', service: 'default/web:http' });
  });

  it('Maglev: removing an endpoint moves its flows, and of the others only those whose cell changed owner', async () => {
    const eps = ['10.0.1.11', '10.0.1.12', '10.0.2.13', '10.0.2.14', '10.0.1.15'];
    const slice = (addrs: string[]) => text('mg-slice.yaml', `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mg-1, namespace: default, labels: {kubernetes.io/service-name: mg}}
addressType: IPv4
ports: [{name: p, port: 8080, protocol: TCP}]
endpoints:
${addrs.map((a) => `  - {addresses: [${a}], nodeName: ${a.startsWith('10.0.1.') ? 'n1' : 'n2'}}`).join('\n')}
`);
    const base = text('mg.yaml', `
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.0.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.0.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: mg, namespace: default}
spec: {clusterIP: 10.96.0.70, ports: [{name: p, port: 80, targetPort: 8080}]}
`);
    const { dp, rt, send } = await start(kind, [base, slice(eps)], { algo: 'maglev' });
    const key = 'default/mg:p/TCP|cluster-ip|any|';
    const m = rt.compiled.plan.services.get(key)!.maglevM;
    expect(m).toBe(509);
    const CLIENT = '10.0.1.200', VIP = '10.96.0.70', N = 600;
    const before = Array.from({ length: N }, (_, i) => send({ src: CLIENT, dst: VIP, sport: 10000 + i, dport: 80, node: 'n1', t: 0 }).backend!);
    expect(new Set(before).size).toBe(5);

    // The SYN-only flows expire (60 s) and are collected; then 10.0.2.13 leaves.
    const removed = '10.0.2.13:8080';
    rt.apply([slice(eps.filter((a) => a !== '10.0.2.13'))]);
    expect(rt.compiled.plan.services.get(key)!.maglevM).toBe(m); // the table keeps its size
    const after = Array.from({ length: N }, (_, i) => send({ src: CLIENT, dst: VIP, sport: 10000 + i, dport: 80, node: 'n1', t: 61 }));
    expect(after.every((r) => r.ct_state === 'NEW')).toBe(true);

    // What Maglev promises, from the tables themselves: a cell moves only if its owner left,
    // or (rarely: the guarantee is statistical) if the new population order takes it.
    const keys = eps.map((a) => `${a}:8080`);
    const keysAfter = keys.filter((k) => k !== removed);
    const t1 = maglevTable(keys.map((k) => ({ key: k })), m), t2 = maglevTable(keysAfter.map((k) => ({ key: k })), m);
    const cell = (sport: number) => hashTuple(ip(CLIENT), ip(VIP), sport, 80, PROTO.TCP, dp.options.hashSeed) % m;
    let kept = 0, survivors = 0;
    for (let i = 0; i < N; i++) {
      const c = cell(10000 + i);
      expect(before[i]).toBe(keys[t1[c]]);
      expect(after[i].backend).toBe(keysAfter[t2[c]]);
      if (before[i] === removed) {
        expect(after[i].backend).not.toBe(removed);
      } else {
        survivors++;
        if (after[i].backend === before[i]) kept++;
      }
    }
    let cellsMoved = 0;
    for (let c = 0; c < m; c++) if (keys[t1[c]] !== removed && keysAfter[t2[c]] !== keys[t1[c]]) cellsMoved++;
    expect(cellsMoved / m).toBeLessThan(0.03);
    expect(kept / survivors).toBeGreaterThan(0.95);
  });
});
