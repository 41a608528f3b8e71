import { describe, expect, it } from 'vitest';
import { EndpointSlice, slicesForService } from '../../src/k8s/model.js';
import { deriveEndpointSlices, eligibleEndpoints } from '../../src/k8s/endpoints.js';
import { NODES_YAML, loadCluster, loadText } from './helpers.js';

/** A pod with a status (taken literally), on node n1 unless told otherwise. */
function pod(name: string, o: {
  labels?: string; ip?: string; node?: string; ready?: boolean; deleting?: boolean; phase?: string; ports?: string; ns?: string;
}): string {
  const ready = o.ready ?? true;
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${o.ns ?? 'default'}
  labels: ${o.labels ?? '{app: x}'}${o.deleting ? '\n  deletionTimestamp: "2024-05-03T10:00:30Z"' : ''}
spec:
  nodeName: ${o.node ?? 'n1'}
  containers: [{name: c, ports: ${o.ports ?? '[{name: web, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]'}}]
status:
  phase: ${o.phase ?? 'Running'}
${o.ip ? `  podIP: ${o.ip}\n` : ''}  conditions: [{type: Ready, status: "${ready ? 'True' : 'False'}"}]
`;
}

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  selector: {app: x}
  ports:
    - {name: web, port: 80, targetPort: web}
    - {name: dns, port: 53, protocol: UDP, targetPort: dns}
`;

const PODS = [
  pod('p-ready', { ip: '10.0.1.10' }),
  pod('p-unready', { ip: '10.0.2.11', node: 'n2', ready: false, ports: '[{name: web, containerPort: 8081}]' }),
  pod('p-term', { ip: '10.0.1.12', deleting: true }),
  pod('p-term-unready', { ip: '10.0.1.13', deleting: true, ready: false, ports: '[{name: web, containerPort: 8080}]' }),
  pod('p-succeeded', { ip: '10.0.1.14', phase: 'Succeeded' }),
  pod('p-failed', { ip: '10.0.1.15', phase: 'Failed' }),
  pod('p-pending', { phase: 'Pending', ready: false }),
  pod('p-noname', { ip: '10.0.2.16', node: 'n2', ports: '[{name: http, containerPort: 8080}]' }),
  pod('p-udp', { ip: '10.0.2.17', node: 'n2', ports: '[{name: web, containerPort: 8080, protocol: UDP}]' }),
  pod('p-other-ns', { ip: '10.0.1.18', ns: 'other' }),
  pod('p-unknown-node', { ip: '10.0.9.19', node: 'n9' }),
  pod('p-mismatch', { ip: '10.0.1.20', labels: '{app: y}' }),
  pod('p-sidecar', { ip: '10.0.1.21', ports: '[]' }).replace('  containers:', '  initContainers: [{name: proxy, restartPolicy: Always, ports: [{name: web, containerPort: 15001}]}]\n  containers:'),
];

const slicesOf = (text: string, name = 'x', ns = 'default') => {
  const { model } = loadText(text);
  return { model, slices: slicesForService(model, { namespace: ns, name }) };
};
const addrs = (s: EndpointSlice) => s.endpoints.map((e) => e.addresses[0]);
const portsOf = (s: EndpointSlice) => s.ports.map((p) => `${p.name}=${p.port}/${p.protocol}`).join(',');

describe('derived EndpointSlices follow the EndpointSlice controller', () => {
  const { model, slices } = slicesOf([NODES_YAML, SERVICE, ...PODS].join('---\n'));
  const byPorts = new Map(slices.map((s) => [portsOf(s), s]));

  it('groups pods into one slice per resolved port set', () => {
    expect([...byPorts.keys()].sort()).toEqual(['', 'web=15001/TCP', 'web=8080/TCP', 'web=8080/TCP,dns=53/UDP', 'web=8081/TCP']);
    for (const s of slices) {
      expect(s).toMatchObject({ namespace: 'default', serviceName: 'x', addressType: 'IPv4', derived: true });
      expect(s.labels).toEqual({ 'kubernetes.io/service-name': 'x', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
      expect(s.name).toMatch(/^x-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    }
  });

  it('resolves a named targetPort per pod, matching the protocol too', () => {
    expect(addrs(byPorts.get('web=8080/TCP,dns=53/UDP')!)).toEqual(['10.0.1.10', '10.0.1.12']);
    expect(addrs(byPorts.get('web=8081/TCP')!)).toEqual(['10.0.2.11']);
    expect(addrs(byPorts.get('web=8080/TCP')!)).toEqual(['10.0.1.13']);
    // "http" is not "web"; "web" exists on p-udp only as UDP: neither resolves, both land in a slice without ports.
    expect(addrs(byPorts.get('')!)).toEqual(['10.0.2.16', '10.0.2.17']);
    // Sidecars (initContainers with restartPolicy Always) are searched too.
    expect(addrs(byPorts.get('web=15001/TCP')!)).toEqual(['10.0.1.21']);
  });

  it('sets ready, serving and terminating from the pod', () => {
    const cond = (ip: string) => slices.flatMap((s) => s.endpoints).find((e) => e.addresses[0] === ip)!.conditions;
    expect(cond('10.0.1.10')).toEqual({ ready: true, serving: true, terminating: false });
    expect(cond('10.0.2.11')).toEqual({ ready: false, serving: false, terminating: false });
    expect(cond('10.0.1.12')).toEqual({ ready: false, serving: true, terminating: true });
    expect(cond('10.0.1.13')).toEqual({ ready: false, serving: false, terminating: true });
  });

  it('leaves out terminal pods, pods without IP, other namespaces, non-matching labels and unknown nodes', () => {
    const all = slices.flatMap(addrs);
    for (const ip of ['10.0.1.14', '10.0.1.15', '10.0.1.18', '10.0.9.19', '10.0.1.20']) expect(all).not.toContain(ip);
    expect(all).toHaveLength(7);
    expect(model.pods.find((p) => p.name === 'p-pending')!.podIP).toBeUndefined();
  });

  it('copies nodeName, the node zone and the pod reference', () => {
    const e = slices.flatMap((s) => s.endpoints).find((x) => x.addresses[0] === '10.0.2.11')!;
    expect(e).toMatchObject({ nodeName: 'n2', zone: 'z2', targetRef: { kind: 'Pod', namespace: 'default', name: 'p-unready' } });
  });

  it('with publishNotReadyAddresses: ready regardless, and pods on unknown nodes are kept', () => {
    const { slices: s2 } = slicesOf([NODES_YAML, SERVICE.replace('spec:\n', 'spec:\n  publishNotReadyAddresses: true\n'), ...PODS].join('---\n'));
    const eps = s2.flatMap((s) => s.endpoints);
    expect(eps.every((e) => e.conditions.ready)).toBe(true);
    expect(eps.map((e) => e.addresses[0])).toContain('10.0.9.19');
    expect(eps.find((e) => e.addresses[0] === '10.0.1.13')!.conditions).toEqual({ ready: true, serving: false, terminating: true });
  });

  it('keeps protocols apart: the same port number over TCP and UDP resolves independently', () => {
    const text = [NODES_YAML, `apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  selector: {app: dns}
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: dns}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns}
`, pod('only-udp', { ip: '10.0.1.30', labels: '{app: dns}', ports: '[{name: dns, containerPort: 5353, protocol: UDP}]' }),
    pod('both', { ip: '10.0.1.31', labels: '{app: dns}', ports: '[]' }).replace('containers: [{name: c, ports: []}]',
      'containers: [{name: udp, ports: [{name: dns, containerPort: 5353, protocol: UDP}]}, {name: tcp, ports: [{name: dns, containerPort: 5354, protocol: TCP}]}]')].join('---\n');
    const { slices: s3 } = slicesOf(text, 'dns');
    expect(s3.map((s) => `${portsOf(s)} ${addrs(s)}`).sort()).toEqual([
      'dns=5353/UDP 10.0.1.30',
      'dns=5353/UDP,dns-tcp=5354/TCP 10.0.1.31',
    ]);
  });

  it('publishes StatefulSet hostnames on the headless service and zones from the nodes', () => {
    const { model: m } = loadCluster();
    const db = slicesForService(m, { namespace: 'shop', name: 'db' });
    expect(db).toHaveLength(1);
    expect(db[0].labels['service.kubernetes.io/headless']).toBe('');
    expect(db[0].endpoints.map((e) => [e.hostname, e.nodeName, e.zone])).toEqual([
      ['db-0', 'node-a', 'eu-west-1a'], ['db-2', 'node-a', 'eu-west-1a'], ['db-1', 'node-b', 'eu-west-1b'],
    ]);
  });

  it('derives nothing for services without selector or of type ExternalName, and uses given slices instead', () => {
    const { model: m } = loadCluster();
    const search = m.services.find((s) => s.name === 'search')!;
    expect(deriveEndpointSlices(search, m.pods, m.nodes)).toEqual([]);
    const legacy = m.services.find((s) => s.name === 'legacy-db')!;
    expect(deriveEndpointSlices(legacy, m.pods, m.nodes)).toEqual([]);
    expect(slicesForService(m, legacy).every((s) => !s.derived)).toBe(true);
  });

  it('splits at maxEndpointsPerSlice', () => {
    const many = Array.from({ length: 7 }, (_, i) => pod(`m${i}`, { ip: `10.0.1.${100 + i}` }));
    const { model: m } = loadText([NODES_YAML, SERVICE, ...many].join('---\n'), 'm.yaml', { maxEndpointsPerSlice: 3 });
    const s = slicesForService(m, { namespace: 'default', name: 'x' });
    expect(s.map((x) => x.endpoints.length).sort()).toEqual([1, 3, 3]);
    expect(new Set(s.map((x) => x.name)).size).toBe(3);
  });
});

describe('eligibleEndpoints follows kube-proxy', () => {
  const slice = (name: string, ports: EndpointSlice['ports'], eps: [string, Partial<{ ready: boolean; serving: boolean; terminating: boolean }>][]): EndpointSlice => ({
    namespace: 'default', name, serviceName: 'x', addressType: 'IPv4', ports, labels: {}, derived: false,
    endpoints: eps.map(([ip, c]) => ({ addresses: [ip], conditions: { ready: c.ready ?? true, serving: c.serving ?? true, terminating: c.terminating ?? false } })),
  });
  const web = [{ name: 'web', port: 8080, protocol: 'TCP' as const }];
  const pick = (r: ReturnType<typeof eligibleEndpoints>) => ({
    use: r.endpoints.map((e) => `${e.address}:${e.port}`),
    excluded: r.excluded.map((x) => `${'address' in x.endpoint ? x.endpoint.address : '?'} ${x.reason}`),
    usingTerminating: r.usingTerminating,
  });

  it('uses the ready endpoints and says why the others are left out', () => {
    const r = eligibleEndpoints([slice('a', web, [
      ['10.0.0.1', {}],
      ['10.0.0.2', { ready: false }],
      ['10.0.0.3', { ready: false, terminating: true }],
      ['10.0.0.4', { ready: false, serving: false, terminating: true }],
    ])], { name: 'web', protocol: 'TCP' });
    expect(pick(r)).toEqual({
      use: ['10.0.0.1:8080'],
      excluded: ['10.0.0.2 not-ready', '10.0.0.3 terminating', '10.0.0.4 terminating-not-serving'],
      usingTerminating: false,
    });
  });

  it('falls back to serving terminating endpoints when none is ready (KEP-1669)', () => {
    const r = eligibleEndpoints([slice('a', web, [
      ['10.0.0.2', { ready: false }],
      ['10.0.0.3', { ready: false, terminating: true }],
      ['10.0.0.4', { ready: false, serving: false, terminating: true }],
    ])], { name: 'web', protocol: 'TCP' });
    expect(pick(r)).toEqual({
      use: ['10.0.0.3:8080'],
      excluded: ['10.0.0.2 not-ready-not-terminating', '10.0.0.4 terminating-not-serving'],
      usingTerminating: true,
    });
  });

  it('returns nothing when no endpoint is ready or serving-terminating', () => {
    const r = eligibleEndpoints([slice('a', web, [['10.0.0.2', { ready: false, serving: false }]])], { name: 'web', protocol: 'TCP' });
    expect(pick(r)).toEqual({ use: [], excluded: ['10.0.0.2 not-ready-not-terminating'], usingTerminating: false });
  });

  it('matches slice ports by name and protocol, deduplicates address:port across slices', () => {
    const r = eligibleEndpoints([
      slice('a', web, [['10.0.0.1', {}], ['10.0.0.2', {}]]),
      slice('b', [{ name: 'web', port: 8080, protocol: 'TCP' }], [['10.0.0.2', {}]]),
      slice('c', [{ name: 'web', port: 8080, protocol: 'UDP' }], [['10.0.0.3', {}]]),
      slice('d', [{ name: 'web', protocol: 'TCP' }], [['10.0.0.4', {}]]),
      slice('e', [], [['10.0.0.5', {}]]),
    ], { name: 'web', protocol: 'TCP' });
    expect(pick(r)).toEqual({
      use: ['10.0.0.1:8080', '10.0.0.2:8080'],
      excluded: ['10.0.0.2 duplicate', '10.0.0.3 port-not-in-slice', '10.0.0.4 port-not-in-slice', '10.0.0.5 port-not-in-slice'],
      usingTerminating: false,
    });
  });

  it('end to end: the cluster DNS with one replica terminating uses the ready one; with both terminating, the fallback', () => {
    const { model } = loadCluster();
    const dns = slicesForService(model, { namespace: 'kube-system', name: 'kube-dns' });
    expect(pick(eligibleEndpoints(dns, { name: 'dns', protocol: 'UDP' }))).toEqual({
      use: ['10.244.0.2:53'], excluded: ['10.244.1.2 terminating'], usingTerminating: false,
    });
    // Mark the other replica as terminating too.
    const draining = dns.map((s) => ({ ...s, endpoints: s.endpoints.map((e) => ({ ...e, conditions: { ...e.conditions, ready: false, terminating: true } })) }));
    const r = eligibleEndpoints(draining, { name: 'dns', protocol: 'UDP' });
    expect(pick(r)).toEqual({ use: ['10.244.0.2:53', '10.244.1.2:53'], excluded: [], usingTerminating: true });
  });

  it('hand-written slices: the ready endpoints of both slices, the draining one left out', () => {
    const { model } = loadCluster();
    const r = eligibleEndpoints(slicesForService(model, { namespace: 'shop', name: 'legacy-db' }), { name: 'pg', protocol: 'TCP' });
    expect(pick(r)).toEqual({ use: ['192.168.50.10:5432', '192.168.50.12:5432'], excluded: ['192.168.50.11 terminating'], usingTerminating: false });
    expect(r.endpoints[0]).toMatchObject({ zone: 'eu-west-1a', hintsForZones: ['eu-west-1a'], slice: 'legacy-db-1' });
  });
});
