import { describe, expect, it } from 'vitest';
import { loadManifests, ManifestError } from '../../src/k8s/load.js';
import { errorOf, loadText } from './helpers.js';

const svc = (spec: string, meta = 'name: web') => `apiVersion: v1
kind: Service
metadata: {${meta}}
spec:
${spec}`;

const pod = (spec: string, meta = 'name: p', status = '') => `apiVersion: v1
kind: Pod
metadata: {${meta}}
spec:
${spec}${status ? `\nstatus:\n${status}` : ''}`;

const node = (body: string) => `apiVersion: v1
kind: Node
metadata: {name: n1}
${body}`;

const deploy = (selector: string, labels: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: ${selector}
  template:
    metadata: {labels: ${labels}}
    spec: {containers: [{name: c, image: x}]}`;

const PORTS = '  ports: [{port: 80}]';

describe('ManifestError names the file, document, object and field', () => {
  it('matches the documented format', () => {
    const text = `${svc('  ports: [{port: 80}]', 'name: other')}\n---\n${svc('  ports:\n    - port: 80x')}`;
    let err: unknown;
    try {
      loadText(text, 'services.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    const me = err as ManifestError;
    expect(me.message).toBe('services.yaml: document 2 (Service default/web): spec.ports[0].port: must be an integer in 1..65535, got "80x"');
    expect(me.source).toEqual({ file: 'services.yaml', document: 2 });
    expect(me.object).toBe('Service default/web');
    expect(me.path).toBe('spec.ports[0].port');
  });

  const cases: [string, string, string][] = [
    // metadata
    ['missing metadata.name', pod('  containers: [{name: c}]', 'namespace: shop'),
      'x.yaml: document 1 (Pod shop/<unnamed>): metadata.name: required'],
    ['generateName', pod('  containers: [{name: c}]', 'generateName: p-'),
      'x.yaml: document 1 (Pod default/<unnamed>): metadata.name: required (generateName is not supported: give the object a name)'],
    ['bad object name', svc(PORTS, 'name: Web_1'),
      'x.yaml: document 1 (Service default/Web_1): metadata.name: must be a lowercase RFC 1035 label (a-z, 0-9 and \'-\', starting with a letter and ending with an alphanumeric character), got "Web_1"'],
    ['service name starting with a digit', svc(PORTS, 'name: 1web'),
      'x.yaml: document 1 (Service default/1web): metadata.name: must be a lowercase RFC 1035 label (a-z, 0-9 and \'-\', starting with a letter and ending with an alphanumeric character), got "1web"'],
    ['label value that is a YAML number', svc(PORTS, 'name: web, labels: {version: 2}'),
      'x.yaml: document 1 (Service default/web): metadata.labels.version: must be a string, got 2 (quote it in YAML)'],
    ['bad label key', svc(PORTS, 'name: web, labels: {"-bad": x}'),
      'x.yaml: document 1 (Service default/web): metadata.labels: key "-bad": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'],
    ['missing kind', 'apiVersion: v1\nmetadata: {name: x}',
      'x.yaml: document 1 (<no kind> x): kind: required, got nothing'],
    ['missing apiVersion', 'kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}',
      'x.yaml: document 1 (Service default/web): apiVersion: required (Service is v1)'],
    ['wrong API group', deploy('{matchLabels: {app: web}}', '{app: web}').replace('apps/v1', 'v1'),
      'x.yaml: document 1 (Deployment shop/web): apiVersion: Deployment is served as apps/v1, got "v1"'],
    ['YAML syntax error', 'apiVersion: v1\nkind: Service\nmetadata: {name: web\n',
      'x.yaml: document 1: YAML/JSON syntax error: Flow map in block collection must be sufficiently indented and end with a } at line 4, column 1'],
    ['not an object', '- a\n- b', 'x.yaml: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), got a list'],
    // ports and protocols
    ['port out of range', svc('  ports: [{port: 70000}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].port: must be an integer in 1..65535, got 70000'],
    ['quoted port', svc('  ports: [{port: "80"}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].port: must be an integer in 1..65535, got "80" (a number must not be quoted)'],
    ['missing port', svc('  ports: [{name: http}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].port: required'],
    ['bad protocol', svc('  ports: [{port: 80, protocol: HTTP}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].protocol: must be one of "TCP", "UDP", "SCTP", got "HTTP"'],
    ['lowercase protocol', svc('  ports: [{port: 80, protocol: tcp}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].protocol: must be one of "TCP", "UDP", "SCTP", got "tcp"'],
    ['no ports', svc('  selector: {app: web}'),
      'x.yaml: document 1 (Service default/web): spec.ports: required (at least one port, unless the Service is headless or ExternalName)'],
    ['unnamed ports', svc('  ports: [{port: 80}, {port: 443}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].name: required when the Service has more than one port'],
    ['duplicate port name', svc('  ports: [{name: a, port: 80}, {name: a, port: 443}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[1].name: duplicate port name "a"'],
    ['duplicate port', svc('  ports: [{name: a, port: 80}, {name: b, port: 80}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[1]: duplicate port 80/TCP (also spec.ports[0])'],
    // targetPort (IANA_SVC_NAME)
    ['targetPort name too long', svc('  ports: [{port: 80, targetPort: http-web-frontend}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].targetPort: must be no more than 15 characters, got "http-web-frontend"'],
    ['targetPort name with uppercase and underscore', svc('  ports: [{port: 80, targetPort: Http_Port}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].targetPort: must contain only lowercase alphanumeric characters (a-z, 0-9) and hyphens (-), got "Http_Port"'],
    ['targetPort number quoted', svc('  ports: [{port: 80, targetPort: "8080"}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].targetPort: must contain at least one letter (a-z) (a port number must not be quoted), got "8080"'],
    ['targetPort name with double hyphen', svc('  ports: [{port: 80, targetPort: web--a}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].targetPort: must not contain consecutive hyphens, got "web--a"'],
    ['targetPort out of range', svc('  ports: [{port: 80, targetPort: 65536}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].targetPort: must be an integer in 1..65535, got 65536'],
    // nodePorts
    ['nodePort outside the default range', svc('  type: NodePort\n  ports: [{port: 80, nodePort: 8080}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[0].nodePort: provided port is not in the valid range. The range of valid ports is 30000-32767, got 8080'],
    ['nodePort on a ClusterIP service', svc('  ports: [{port: 80, nodePort: 30080}]'),
      "x.yaml: document 1 (Service default/web): spec.ports[0].nodePort: may not be used when `type` is 'ClusterIP'"],
    ['duplicate nodePort in a service', svc('  type: NodePort\n  ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81, nodePort: 30080}]'),
      'x.yaml: document 1 (Service default/web): spec.ports[1].nodePort: duplicate nodePort 30080/TCP (also spec.ports[0])'],
    // IPs and CIDRs
    ['bad clusterIP', svc(`  clusterIP: 10.96.0.300\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.clusterIP: must be a valid IPv4 address (each part 0..255), got "10.96.0.300"'],
    ['clusterIP with leading zeros', svc(`  clusterIP: 10.96.0.010\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.clusterIP: must be a valid IPv4 address without leading zeros, got "10.96.0.010"'],
    ['clusterIPs disagreeing with clusterIP', svc(`  clusterIP: 10.96.0.20\n  clusterIPs: [10.96.0.21]\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.clusterIPs[0]: must equal spec.clusterIP ("10.96.0.20"), got "10.96.0.21"'],
    ['headless NodePort', svc(`  type: NodePort\n  clusterIP: None\n${PORTS}`),
      "x.yaml: document 1 (Service default/web): spec.clusterIP: may not be set to 'None' for NodePort services"],
    ['bad externalIP', svc(`  externalIPs: [1.2.3]\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.externalIPs[0]: must be a valid IPv4 address (e.g. 10.9.8.7), got "1.2.3"'],
    ['loopback externalIP', svc(`  externalIPs: [127.0.0.1]\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.externalIPs[0]: may not be in the loopback range (127.0.0.0/8), got "127.0.0.1"'],
    ['bad loadBalancerSourceRanges', svc(`  type: LoadBalancer\n  loadBalancerSourceRanges: [10.0.0.0/40]\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.loadBalancerSourceRanges[0]: IPv4 prefix length must be 0..32, got "10.0.0.0/40"'],
    ['loadBalancerSourceRanges without a LoadBalancer', svc(`  loadBalancerSourceRanges: [10.0.0.0/8]\n${PORTS}`),
      "x.yaml: document 1 (Service default/web): spec.loadBalancerSourceRanges: may only be used when `type` is 'LoadBalancer'"],
    ['bad status ingress IP', `${svc(`  type: LoadBalancer\n${PORTS}`)}\nstatus: {loadBalancer: {ingress: [{ip: 1.2.3.4.5}]}}`,
      'x.yaml: document 1 (Service default/web): status.loadBalancer.ingress[0].ip: must be a valid IPv4 address (e.g. 10.9.8.7), got "1.2.3.4.5"'],
    ['bad node address', node('status: {addresses: [{type: InternalIP, address: 10.0.0.256}]}'),
      'x.yaml: document 1 (Node n1): status.addresses[0].address: must be a valid IPv4 address (each part 0..255), got "10.0.0.256"'],
    ['bad podCIDR', node('spec: {podCIDR: 10.244.0.0/33}'),
      'x.yaml: document 1 (Node n1): spec.podCIDR: IPv4 prefix length must be 0..32, got "10.244.0.0/33"'],
    ['podCIDR without prefix', node('spec: {podCIDRs: [10.244.0.0]}'),
      'x.yaml: document 1 (Node n1): spec.podCIDRs[0]: must be a CIDR (e.g. 10.0.0.0/16), got "10.244.0.0"'],
    ['bad pod IP', pod('  containers: [{name: c}]', 'name: p', '  podIP: 10.1.2'),
      'x.yaml: document 1 (Pod default/p): status.podIP: must be a valid IPv4 address (e.g. 10.9.8.7), got "10.1.2"'],
    // policies and affinity
    ['externalTrafficPolicy on a plain ClusterIP', svc(`  externalTrafficPolicy: Local\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.externalTrafficPolicy: may only be set for externally-accessible services (NodePort, LoadBalancer, or with externalIPs), got "Local"'],
    ['bad internalTrafficPolicy', svc(`  internalTrafficPolicy: Node\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.internalTrafficPolicy: must be one of "Cluster", "Local", got "Node"'],
    ['affinity timeout too long', svc(`  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be an integer in 1..86400, got 90000'],
    ['affinity config without ClientIP', svc(`  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.sessionAffinityConfig: must not be set when sessionAffinity is None'],
    ['bad service type', svc(`  type: Internal\n${PORTS}`),
      'x.yaml: document 1 (Service default/web): spec.type: must be one of "ClusterIP", "NodePort", "LoadBalancer", "ExternalName", got "Internal"'],
    ['ExternalName without a name', svc('  type: ExternalName'),
      'x.yaml: document 1 (Service default/web): spec.externalName: required'],
    // pods and workloads
    ['pod without containers', pod('  nodeName: n1'),
      'x.yaml: document 1 (Pod default/p): spec.containers: required (at least one container)'],
    ['container port out of range', pod('  containers: [{name: c, ports: [{containerPort: 0}]}]'),
      'x.yaml: document 1 (Pod default/p): spec.containers[0].ports[0].containerPort: must be an integer in 1..65535, got 0'],
    ['container port name syntax', pod('  containers: [{name: c, ports: [{name: HTTP, containerPort: 80}]}]'),
      'x.yaml: document 1 (Pod default/p): spec.containers[0].ports[0].name: must contain only lowercase alphanumeric characters (a-z, 0-9) and hyphens (-); must contain at least one letter (a-z), got "HTTP"'],
    ['container port protocol', pod('  containers: [{name: c, ports: [{containerPort: 80, protocol: ICMP}]}]'),
      'x.yaml: document 1 (Pod default/p): spec.containers[0].ports[0].protocol: must be one of "TCP", "UDP", "SCTP", got "ICMP"'],
    ['selector not matching template labels', deploy('{matchLabels: {app: web}}', '{app: webb}'),
      'x.yaml: document 1 (Deployment shop/web): spec.template.metadata.labels: must match spec.selector (selector app=web, labels app=webb)'],
    ['empty workload selector', deploy('{}', '{app: web}'),
      'x.yaml: document 1 (Deployment shop/web): spec.selector: empty selector is invalid (it would select every pod)'],
    ['negative replicas', deploy('{matchLabels: {app: web}}', '{app: web}').replace('spec:\n  selector', 'spec:\n  replicas: -1\n  selector'),
      'x.yaml: document 1 (Deployment shop/web): spec.replicas: must be an integer in 0..100000, got -1'],
    // EndpointSlices
    ['slice address type', 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: x}}\naddressType: IP\nendpoints: []',
      'x.yaml: document 1 (EndpointSlice default/s): addressType: must be one of "IPv4", "IPv6", "FQDN", got "IP"'],
    ['slice endpoint address', 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: x}}\naddressType: IPv4\nendpoints: [{addresses: ["fd00::1"]}]',
      'x.yaml: document 1 (EndpointSlice default/s): endpoints[0].addresses[0]: must be an IPv4 address (addressType), got "fd00::1"'],
    ['slice endpoint without address', 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: x}}\naddressType: IPv4\nendpoints: [{addresses: []}]',
      'x.yaml: document 1 (EndpointSlice default/s): endpoints[0].addresses: must contain 1..100 addresses, got 0'],
    ['slice condition not a boolean', 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: x}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: "yes"}}]',
      'x.yaml: document 1 (EndpointSlice default/s): endpoints[0].conditions.ready: must be true or false, got "yes"'],
  ];

  it.each(cases)('%s', (_what, text, message) => {
    expect(errorOf(() => loadText(text, 'x.yaml'))).toBe(message);
  });

  it('rejects bad options with a RangeError', () => {
    expect(() => loadText(svc(PORTS), 'x.yaml', { nodePortRange: '40000-30000' })).toThrow(RangeError);
    expect(() => loadText(svc(PORTS), 'x.yaml', { serviceCIDR: '10.96.0.0' })).toThrow('serviceCIDR: must be a CIDR');
    expect(() => loadText(svc(PORTS), 'x.yaml', { clusterCIDR: '10.0.0.0/16', nodeCIDRMaskSize: 8 })).toThrow('nodeCIDRMaskSize: 8 must be in 16..30 for cluster CIDR 10.0.0.0/16');
  });

  it('accepts a nodePort outside the default range when the range is widened', () => {
    const m = loadText(svc('  type: NodePort\n  ports: [{port: 80, nodePort: 8080}]'), 'x.yaml', { nodePortRange: [8000, 9000] }).model;
    expect(m.services[0].ports[0].nodePort).toBe(8080);
  });

  it('names List items by index', () => {
    const list = JSON.stringify({
      apiVersion: 'v1', kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: 'ops' }, spec: { ports: [{ port: 80, protocol: 'HTTP' }] } },
      ],
    });
    expect(errorOf(() => loadManifests([{ path: 'dump.json', text: list }])))
      .toBe('dump.json: document 1, items[1] (Service ops/b): spec.ports[0].protocol: must be one of "TCP", "UDP", "SCTP", got "HTTP"');
  });

  it('takes the later of two definitions of one object, as kubectl apply does, naming both places', () => {
    const a = { path: 'a.yaml', text: svc(PORTS) };
    const b = { path: 'b.yaml', text: `${svc(PORTS, 'name: other')}\n---\n${svc('  ports: [{port: 8080}]')}` };
    const { model, warnings } = loadManifests([a, b]);
    expect(model.services.find((x) => x.name === 'web')!.ports.map((p) => p.port)).toEqual([8080]);
    expect(warnings.map((w) => w.message)).toEqual(['a.yaml: document 1 (Service default/web): defined again in b.yaml: document 2; the later definition is used, as kubectl apply would update the object']);
    // Same name, different namespace or kind: fine.
    const c = { path: 'c.yaml', text: svc(PORTS, 'name: web, namespace: other') };
    const d = { path: 'd.yaml', text: deploy('{matchLabels: {app: web}}', '{app: web}').replace('namespace: shop', 'namespace: default') };
    expect(loadManifests([a, c, d]).model.services).toHaveLength(2);
  });

  it('reports exhausted pools', () => {
    expect(errorOf(() => loadText(`${svc('  type: NodePort\n  ports: [{name: a, port: 80}, {name: b, port: 81}]')}`, 'x.yaml', { nodePortRange: '30000-30000' })))
      .toBe('x.yaml: document 1 (Service default/web): spec.ports[1].nodePort: no free nodePort left in the range 30000-30000');
    const nodes = 'apiVersion: v1\nkind: Node\nmetadata: {name: tiny}\nspec: {podCIDR: 10.9.0.0/30}\n';
    const dep = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big}\nspec:\n  replicas: 2\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c}]}\n';
    expect(errorOf(() => loadText(`${nodes}---\n${dep}`, 'x.yaml')))
      .toMatch(/^x\.yaml: document 2 \(Deployment default\/big\): no free pod address left on node tiny \(podCIDRs 10\.9\.0\.0\/30\) for pod default\/big-[a-z0-9]+-[a-z0-9]{5}$/);
  });
});
