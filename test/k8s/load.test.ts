import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadManifests } from '../../src/k8s/load.js';
import { loadFiles } from '../../src/k8s/files.js';
import { ClusterModel, Pod } from '../../src/k8s/model.js';
import { SAFE_ALPHANUMS } from '../../src/k8s/validate.js';
import { NODES_YAML, SHOP, fixtureFile, fixtureFiles, loadCluster, loadText } from './helpers.js';

const pod = (m: ClusterModel, ns: string, name: string): Pod => {
  const p = m.pods.find((x) => x.namespace === ns && x.name === name);
  if (!p) throw new Error(`no pod ${ns}/${name}; have ${m.pods.map((x) => `${x.namespace}/${x.name}`).join(' ')}`);
  return p;
};
const svc = (m: ClusterModel, ns: string, name: string) => {
  const s = m.services.find((x) => x.namespace === ns && x.name === name);
  if (!s) throw new Error(`no service ${ns}/${name}`);
  return s;
};
const podsOf = (m: ClusterModel, ns: string, prefix: string) => m.pods.filter((p) => p.namespace === ns && p.name.startsWith(prefix));
const SAFE = `[${SAFE_ALPHANUMS}]`;

describe('loading the fixture cluster', () => {
  const { model, warnings } = loadCluster();

  it('loads without warnings', () => {
    expect(warnings).toEqual([]);
  });

  it('reads nodes: zone, region, addresses (IPv4 only), podCIDRs, taints', () => {
    expect(model.nodes.map((n) => n.name)).toEqual(['node-a', 'node-b', 'node-c']);
    const [a, , c] = model.nodes;
    expect(a).toMatchObject({
      zone: 'eu-west-1a', region: 'eu-west', internalIP: '192.168.1.10', externalIP: '203.0.113.1',
      podCIDRs: ['10.244.0.0/24'], podCIDRAllocated: false, unschedulable: false, ready: true, taints: [],
    });
    expect(c.podCIDRs).toEqual(['10.244.2.0/24']); // the IPv6 one is dropped
    expect(c.addresses).toEqual([{ type: 'InternalIP', address: '192.168.1.12' }]);
    expect(c.taints).toEqual([{ key: 'node-role.kubernetes.io/control-plane', value: '', effect: 'NoSchedule' }]);
  });

  it('reads namespaces, adding the implicit ones', () => {
    expect(model.namespaces.map((n) => [n.name, n.implicit])).toEqual([
      ['default', true], ['kube-system', true], ['monitoring', true], ['shop', false],
    ]);
    // kube-apiserver adds kubernetes.io/metadata.name to every namespace, implicit ones included.
    expect(model.namespaces.find((n) => n.name === 'shop')!.labels).toEqual({ team: 'storefront', 'kubernetes.io/metadata.name': 'shop' });
    expect(model.namespaces.find((n) => n.name === 'default')!.labels).toEqual({ 'kubernetes.io/metadata.name': 'default' });
  });

  it('reads a ClusterIP service with a named targetPort and allocates its cluster IP', () => {
    const web = svc(model, 'shop', 'web');
    expect(web).toMatchObject({
      type: 'ClusterIP', headless: false, clusterIPAllocated: true, selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
      externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', sessionAffinityTimeout: 10800,
    });
    expect(web.ports[0].nodePort).toBeUndefined();
  });

  it('allocates cluster IPs from .10 upward in namespace/name order, around explicit ones', () => {
    // kube-system/kube-dns holds 10.96.0.10 explicitly.
    expect(svc(model, 'kube-system', 'kube-dns')).toMatchObject({ clusterIP: '10.96.0.10', clusterIPAllocated: false });
    const allocated = model.services.filter((s) => s.clusterIPAllocated).map((s) => `${s.namespace}/${s.name}=${s.clusterIP}`);
    expect(allocated).toEqual([
      'monitoring/node-exporter=10.96.0.11', 'shop/api=10.96.0.12', 'shop/legacy-db=10.96.0.13',
      'shop/web=10.96.0.14', 'shop/web-public=10.96.0.15',
    ]);
  });

  it('reads a NodePort service: explicit nodePort kept, the other allocated from the range start', () => {
    const api = svc(model, 'shop', 'api');
    expect(api.type).toBe('NodePort');
    expect(api.ports.map((p) => [p.name, p.nodePort, p.targetPort, p.appProtocol])).toEqual([
      ['http', 30080, 'api', undefined], ['grpc', 30000, 'grpc', 'grpc'],
    ]);
    expect(api.sessionAffinity).toBe('ClientIP');
    expect(api.sessionAffinityTimeout).toBe(600);
  });

  it('reads a LoadBalancer: status ingress, externalIPs, source ranges, Local policy with a health check port', () => {
    const lb = svc(model, 'shop', 'web-public');
    expect(lb).toMatchObject({
      type: 'LoadBalancer', loadBalancerIngress: ['198.51.100.7'], externalIPs: ['198.51.100.20'],
      loadBalancerSourceRanges: ['203.0.113.0/24', '198.51.100.0/25'], externalTrafficPolicy: 'Local',
      allocateLoadBalancerNodePorts: true, sessionAffinity: 'ClientIP', sessionAffinityTimeout: 10800,
    });
    expect(lb.ports.map((p) => [p.port, p.targetPort, p.nodePort])).toEqual([[80, 'http', 30001], [443, 8443, 30002]]);
    expect(lb.healthCheckNodePort).toBe(30003);
  });

  it('reads headless and ExternalName services', () => {
    expect(svc(model, 'shop', 'db')).toMatchObject({ headless: true, clusterIPs: [], clusterIPAllocated: false });
    expect(svc(model, 'shop', 'db').clusterIP).toBeUndefined();
    const search = svc(model, 'shop', 'search');
    expect(search).toMatchObject({ type: 'ExternalName', externalName: 'search.example.com', ports: [] });
    expect(search.clusterIP).toBeUndefined();
  });

  it('reads hand-written EndpointSlices of a selectorless service, applying the nil condition rules', () => {
    const legacy = svc(model, 'shop', 'legacy-db');
    expect(legacy.selector).toBeUndefined();
    const slices = model.endpointSlices.filter((s) => s.serviceName === 'legacy-db');
    expect(slices.map((s) => [s.name, s.derived])).toEqual([['legacy-db-1', false], ['legacy-db-2', false]]);
    expect(slices[0].endpoints[0]).toMatchObject({ addresses: ['192.168.50.10'], zone: 'eu-west-1a', hintsForZones: ['eu-west-1a'] });
    expect(slices[0].endpoints[1].conditions).toEqual({ ready: false, serving: true, terminating: true });
    // No conditions at all: ready and serving nil mean true, terminating nil means false.
    expect(slices[1].endpoints[0].conditions).toEqual({ ready: true, serving: true, terminating: false });
    expect(slices[1].ports).toEqual([{ name: 'pg', port: 5432, protocol: 'TCP' }]);
  });

  it('reads pods from a kubectl List (JSON) as they are, terminating included', () => {
    const a = pod(model, 'kube-system', 'coredns-5d78c9869d-7kq2x');
    expect(a).toMatchObject({ nodeName: 'node-a', podIP: '10.244.0.2', phase: 'Running', ready: true, terminating: false, simulated: false });
    expect(a.owner).toEqual({ kind: 'ReplicaSet', name: 'coredns-5d78c9869d' });
    expect(a.ports.map((p) => `${p.name}=${p.containerPort}/${p.protocol}`)).toEqual(['dns=53/UDP', 'dns-tcp=53/TCP', 'metrics=9153/TCP']);
    expect(a.source).toEqual({ file: 'cluster/70-kube-system.json', document: 1, item: 1 });
    expect(pod(model, 'kube-system', 'coredns-5d78c9869d-s9wtl')).toMatchObject({ ready: true, terminating: true });
  });

  it('does not expand a workload whose pods are already in the input', () => {
    expect(podsOf(model, 'kube-system', 'coredns').map((p) => p.name)).toEqual(['coredns-5d78c9869d-7kq2x', 'coredns-5d78c9869d-s9wtl']);
  });

  it('gives a Pod manifest without status a node and an address, Running and Ready (JSON file)', () => {
    expect(pod(model, 'shop', 'debug')).toMatchObject({ nodeName: 'node-a', phase: 'Running', ready: true, simulated: true, podIP: '10.244.0.6' });
  });

  it('loads the same model from files on disk (loadFiles, directory expansion)', () => {
    const fromDisk = loadFiles([SHOP]).model;
    const strip = (m: ClusterModel) => JSON.parse(JSON.stringify(m, (k, v) => (k === 'source' ? undefined : v)));
    expect(strip(fromDisk)).toEqual(strip(model));
  });
});

describe('workload expansion', () => {
  const { model } = loadCluster();

  it('names Deployment pods <deployment>-<pod-template-hash>-<5 chars> and labels them with the hash', () => {
    const web = podsOf(model, 'shop', 'web-');
    expect(web).toHaveLength(3);
    const hash = web[0].labels['pod-template-hash'];
    expect(hash).toMatch(new RegExp(`^${SAFE}{6,10}$`));
    for (const p of web) {
      expect(p.name).toMatch(new RegExp(`^web-${hash}-${SAFE}{5}$`));
      expect(p.labels).toEqual({ app: 'web', tier: 'frontend', 'pod-template-hash': hash });
      expect(p.owner).toEqual({ kind: 'ReplicaSet', name: `web-${hash}` });
      expect(p.ports.map((x) => `${x.name}=${x.containerPort}/${x.protocol}`)).toEqual(['http=8080/TCP', 'metrics=9113/TCP']);
    }
    expect(new Set(web.map((p) => p.name)).size).toBe(3);
  });

  it('is deterministic: same names, nodes and addresses on every load and in any file order', () => {
    const again = loadCluster().model;
    const reversed = loadManifests(fixtureFiles('cluster').reverse()).model;
    const view = (m: ClusterModel) => m.pods.map((p) => `${p.namespace}/${p.name}@${p.nodeName}=${p.podIP}`);
    expect(view(again)).toEqual(view(model));
    expect(view(reversed)).toEqual(view(model));
    expect(reversed.services.map((s) => `${s.name}=${s.clusterIP}:${s.ports.map((p) => p.nodePort)}`))
      .toEqual(model.services.map((s) => `${s.name}=${s.clusterIP}:${s.ports.map((p) => p.nodePort)}`));
  });

  it('changes the pod-template-hash when the template changes', () => {
    const files = fixtureFiles('cluster').map((f) => (f.path.endsWith('10-web.yaml') ? { ...f, text: f.text.replace('nginx:1.27', 'nginx:1.28') } : f));
    const changed = loadManifests(files).model;
    const h1 = podsOf(model, 'shop', 'web-')[0].labels['pod-template-hash'];
    const h2 = podsOf(changed, 'shop', 'web-')[0].labels['pod-template-hash'];
    expect(h2).not.toBe(h1);
  });

  it('schedules replicas round-robin over feasible nodes in name order (the tainted control plane is skipped)', () => {
    const text = `${NODES_YAML}
---
apiVersion: v1
kind: Node
metadata: {name: n3}
spec: {podCIDR: 10.0.3.0/24, taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: n0}
spec: {podCIDR: 10.0.0.0/24, unschedulable: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 5
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: c, image: x}]}
`;
    const m = loadText(text).model;
    const pods = podsOf(m, 'default', 'app-');
    const perNode = (n: string) => pods.filter((p) => p.nodeName === n).map((p) => p.podIP).sort();
    expect(perNode('n1')).toEqual(['10.0.1.2', '10.0.1.3', '10.0.1.4']);
    expect(perNode('n2')).toEqual(['10.0.2.2', '10.0.2.3']);
    expect(perNode('n0')).toEqual([]);
    expect(perNode('n3')).toEqual([]);
  });

  it('names StatefulSet pods <name>-0..N-1 with hostname and subdomain, and labels them', () => {
    const db = podsOf(model, 'shop', 'db-');
    expect(db.map((p) => `${p.name}@${p.nodeName}`)).toEqual(['db-0@node-a', 'db-1@node-b', 'db-2@node-a']);
    expect(db[1]).toMatchObject({ hostname: 'db-1', subdomain: 'db', owner: { kind: 'StatefulSet', name: 'db' } });
    expect(db[1].labels).toMatchObject({ app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-1', 'apps.kubernetes.io/pod-index': '1' });
  });

  it('runs one DaemonSet pod per node (tolerated taint included), hostNetwork pods on the node IP', () => {
    const ds = podsOf(model, 'monitoring', 'node-exporter-');
    expect(ds.map((p) => `${p.nodeName}=${p.podIP}`).sort()).toEqual(['node-a=192.168.1.10', 'node-b=192.168.1.11', 'node-c=192.168.1.12']);
    for (const p of ds) {
      expect(p.name).toMatch(new RegExp(`^node-exporter-${SAFE}{5}$`));
      expect(p.hostNetwork).toBe(true);
    }
  });

  it('skips the tainted node for a DaemonSet without the toleration, but runs on cordoned nodes', () => {
    const text = `${fixtureFile('cluster/00-nodes.yaml').text.replace('  podCIDR: 10.244.1.0/24', '  podCIDR: 10.244.1.0/24\n  unschedulable: true')}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: x}]}
`;
    const m = loadText(text).model;
    expect(podsOf(m, 'kube-system', 'agent-').map((p) => p.nodeName).sort()).toEqual(['node-a', 'node-b']);
  });

  it('allocates pod addresses from each podCIDR, skipping network, .1 and addresses in use', () => {
    // coredns-...-7kq2x holds 10.244.0.2 on node-a; node-b's 10.244.1.2 is the terminating coredns pod.
    const onA = model.pods.filter((p) => p.nodeName === 'node-a' && !p.hostNetwork).map((p) => p.podIP).sort();
    expect(onA).toEqual(['10.244.0.2', '10.244.0.3', '10.244.0.4', '10.244.0.5', '10.244.0.6', '10.244.0.7', '10.244.0.8']);
    const onB = model.pods.filter((p) => p.nodeName === 'node-b' && !p.hostNetwork).map((p) => p.podIP).sort();
    expect(onB).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5']);
  });

  it('assigns podCIDRs from the cluster CIDR to nodes without one', () => {
    const text = `
apiVersion: v1
kind: Node
metadata: {name: b}
spec: {podCIDR: 10.244.0.0/24}
---
apiVersion: v1
kind: Node
metadata: {name: a}
---
apiVersion: v1
kind: Node
metadata: {name: c}
`;
    const m = loadText(text).model;
    expect(m.nodes.map((n) => [n.name, n.podCIDRs[0], n.podCIDRAllocated])).toEqual([
      ['a', '10.244.1.0/24', true], ['b', '10.244.0.0/24', false], ['c', '10.244.2.0/24', true],
    ]);
  });

  it('leaves pods Pending with a warning when no node fits', () => {
    const text = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: lonely}
spec:
  replicas: 2
  selector: {matchLabels: {app: lonely}}
  template:
    metadata: {labels: {app: lonely}}
    spec: {containers: [{name: c, image: x}]}
`;
    const { model: m, warnings } = loadText(text, 'lonely.yaml', { defaultNodes: 0 });
    expect(podsOf(m, 'default', 'lonely-').map((p) => [p.phase, p.podIP, p.nodeName])).toEqual([['Pending', undefined, undefined], ['Pending', undefined, undefined]]);
    expect(warnings.map((w) => w.message)).toEqual([
      'lonely.yaml: document 1 (Deployment default/lonely): 2 pod(s) stay Pending: no node fits (there are no Node objects in the manifests); selector app=lonely',
    ]);
  });
});

describe('input formats', () => {
  const service = (name: string) => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns' }, spec: { selector: { app: name }, ports: [{ port: 80 }] },
  });

  it('accepts multi-document YAML, with empty documents and comments', () => {
    const text = `# leading comment\n---\n${stringify(service('a'))}---\n---\n${stringify(service('b'))}---\n# only a comment\n`;
    const m = loadText(text).model;
    expect(m.services.map((s) => s.name)).toEqual(['a', 'b']);
    // A comment before the first --- is not a document of its own; the empty document counts.
    expect(m.services[1].source).toEqual({ file: 'test.yaml', document: 3 });
  });

  it('accepts JSON, a kind: List and typed lists whose items carry no kind', () => {
    const json = JSON.stringify(service('single'));
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service('l1'), service('l2')] });
    const typed = JSON.stringify({
      apiVersion: 'v1', kind: 'ServiceList', metadata: { resourceVersion: '1' },
      items: [{ metadata: { name: 't1', namespace: 'ns' }, spec: { ports: [{ port: 81 }], selector: { app: 'x' } } }],
    });
    const m = loadManifests([{ path: 'one.json', text: json }, { path: 'list.json', text: list }, { path: 'typed.json', text: typed }]).model;
    expect(m.services.map((s) => s.name)).toEqual(['l1', 'l2', 'single', 't1']);
    expect(m.services.find((s) => s.name === 'l2')!.source).toEqual({ file: 'list.json', document: 1, item: 1 });
    expect(m.services.find((s) => s.name === 't1')!.ports[0].port).toBe(81);
  });

  it('accepts a YAML List (kubectl get -o yaml)', () => {
    const m = loadText(stringify({ apiVersion: 'v1', kind: 'List', items: [service('y1')], metadata: { resourceVersion: '' } })).model;
    expect(m.services.map((s) => s.name)).toEqual(['y1']);
  });

  it('warns about unknown kinds, naming file and object, and loads the rest', () => {
    const { model: m, warnings } = loadManifests([...fixtureFiles('cluster'), fixtureFile('extras.yaml')]);
    expect(warnings.map((w) => [w.code, w.message])).toEqual([
      ['unknown-kind', 'extras.yaml: document 1 (ConfigMap shop/web-config): kind "ConfigMap" (v1) is not used by dpemu; skipped'],
    ]);
    // Ingress is read (north-south routing), not skipped.
    expect(m.northSouth?.ingresses.map((i) => `${i.namespace}/${i.name}`)).toEqual(['shop/web']);
    expect(warnings[0].source).toEqual({ file: 'extras.yaml', document: 1 });
    expect(svc(m, 'shop', 'extra').ports).toEqual([{ name: '', protocol: 'TCP', port: 8080, targetPort: 8080 }]);
    expect(m.services).toHaveLength(loadCluster().model.services.length + 1);
  });

  it('warns about legacy Endpoints and other apiVersions of a known group', () => {
    const text = `
apiVersion: v1
kind: Endpoints
metadata: {name: x}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: x-1, labels: {kubernetes.io/service-name: x}}
addressType: IPv4
endpoints: [{addresses: [10.1.1.1]}]
`;
    const { model: m, warnings } = loadText(text, 'legacy.yaml');
    expect(warnings.map((w) => w.message)).toEqual([
      'legacy.yaml: document 1 (Endpoints default/x): legacy Endpoints object: kube-proxy reads EndpointSlices only; skipped',
      'legacy.yaml: document 2 (EndpointSlice default/x-1): apiVersion: discovery.k8s.io/v1beta1 read as discovery.k8s.io/v1',
    ]);
    expect(m.endpointSlices.map((s) => s.name)).toEqual(['x-1']);
  });

  it('accepts YAML anchors, aliases and merge keys', () => {
    const m = loadText(`
apiVersion: v1
kind: Service
metadata: {name: a, labels: &common {team: shop, tier: web}}
spec:
  selector: &sel {app: a}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: b
  labels:
    <<: {team: shop, tier: web}
    extra: "1"
spec:
  selector: {app: b}
  ports: [{port: 80}]
`).model;
    expect(m.services.map((s) => s.labels)).toEqual([{ team: 'shop', tier: 'web' }, { team: 'shop', tier: 'web', extra: '1' }]);
  });

  it('defaults the namespace to "default" and the protocol to TCP', () => {
    const m = loadText(stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'd' }, spec: { ports: [{ port: 53, targetPort: 5353 }] } })).model;
    expect(m.services[0]).toMatchObject({ namespace: 'default', ports: [{ name: '', protocol: 'TCP', port: 53, targetPort: 5353 }] });
  });

  it('shares one nodePort between ports with the same number (53/TCP and 53/UDP), as kube-apiserver does', () => {
    const m = loadText(`
apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  type: NodePort
  selector: {app: dns}
  ports:
    - {name: udp, port: 53, protocol: UDP}
    - {name: tcp, port: 53, protocol: TCP}
    - {name: metrics, port: 9153}
`).model;
    expect(m.services[0].ports.map((p) => p.nodePort)).toEqual([30000, 30000, 30001]);
  });

  it('honours a custom node port range and service CIDR, avoiding explicit ones', () => {
    const text = `
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {type: NodePort, clusterIP: 172.20.0.10, selector: {app: a}, ports: [{port: 80, nodePort: 20000}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {type: LoadBalancer, selector: {app: b}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: c}
spec: {type: LoadBalancer, allocateLoadBalancerNodePorts: false, selector: {app: c}, ports: [{port: 80}]}
`;
    const m = loadText(text, 'x.yaml', { nodePortRange: '20000-20010', serviceCIDR: '172.20.0.0/16' }).model;
    expect(m.services.map((s) => `${s.name} ${s.clusterIP} ${s.ports[0].nodePort}`)).toEqual([
      'a 172.20.0.10 20000', 'b 172.20.0.11 20001', 'c 172.20.0.12 undefined',
    ]);
    expect(m.config.nodePortRange).toEqual([20000, 20010]);
  });

  it('warns about an explicit cluster IP outside the service CIDR', () => {
    const { warnings } = loadText(stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'o' }, spec: { clusterIP: '10.0.0.5', ports: [{ port: 80 }] } }), 'o.yaml');
    expect(warnings.map((w) => w.message)).toEqual([
      'o.yaml: document 1 (Service default/o): spec.clusterIP: 10.0.0.5 is outside the service CIDR 10.96.0.0/12 (kube-apiserver would reject it; pass serviceCIDR to match the cluster)',
    ]);
  });

  it('drops IPv6 cluster IPs of dual-stack services and skips IPv6-only ones', () => {
    const text = `
apiVersion: v1
kind: Service
metadata: {name: dual}
spec: {clusterIP: "fd00::a", clusterIPs: ["fd00::a", 10.96.5.5], ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: six}
spec: {clusterIP: "fd00::b", ports: [{port: 80}]}
`;
    const { model: m, warnings } = loadText(text, 'ds.yaml');
    expect(m.services.map((s) => [s.name, s.clusterIP, s.clusterIPs])).toEqual([['dual', '10.96.5.5', ['10.96.5.5']]]);
    expect(warnings.map((w) => w.code)).toEqual(['ipv6-ignored']);
  });

  it('treats an empty selector as no selector, with a warning', () => {
    const { model: m, warnings } = loadText(stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'e' }, spec: { selector: {}, ports: [{ port: 80 }] } }));
    expect(m.services[0].selector).toBeUndefined();
    expect(warnings.map((w) => w.code)).toEqual(['empty-selector']);
  });
});
