import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import type { AdminPolicy, NetworkPolicy } from '../../src/policy/model.js';
import { errorOf, loadText } from './helpers.js';

const ALL = { matchLabels: {}, matchExpressions: [] };
const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });

const np = (spec: string, meta = '{name: p, namespace: prod}') => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: ${meta}
spec:
${spec.replace(/^/gm, '  ')}
`;

function loadNP(spec: string): { p: NetworkPolicy; warnings: { code: string; message: string }[] } {
  const { model, warnings } = loadText(np(spec));
  expect(model.policies!.networkPolicies).toHaveLength(1);
  return { p: model.policies!.networkPolicies[0], warnings };
}

const npError = (spec: string) => errorOf(() => loadText(np(spec)));

const anp = (spec: string, name = 'a', kind = 'AdminNetworkPolicy', version = 'v1alpha1') => `apiVersion: policy.networking.k8s.io/${version}
kind: ${kind}
metadata: {name: ${name}}
spec:
${spec.replace(/^/gm, '  ')}
`;
const cnp = (spec: string, name = 'c') => anp(spec, name, 'ClusterNetworkPolicy', 'v1alpha2');

function loadAdmin(text: string): { p: AdminPolicy; warnings: { code: string; message: string }[] } {
  const { model, warnings } = loadText(text);
  expect(model.policies!.adminPolicies).toHaveLength(1);
  return { p: model.policies!.adminPolicies[0], warnings };
}

describe('NetworkPolicy: defaults', () => {
  it('policyTypes defaults to Ingress when there is no egress rule', () => {
    const { p } = loadNP('podSelector: {}');
    expect(p).toEqual({
      namespace: 'prod', name: 'p', podSelector: ALL, policyTypes: ['Ingress'], ingress: [], egress: [],
      source: { file: 'test.yaml', document: 1 },
    });
  });

  it('policyTypes defaults to Ingress and Egress when egress rules are written', () => {
    expect(loadNP('podSelector: {}\negress: [{}]').p.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('policyTypes defaults to Ingress only when egress is an empty list', () => {
    expect(loadNP('podSelector: {}\negress: []').p.policyTypes).toEqual(['Ingress']);
  });

  it('policyTypes as written: Egress only (ingress is then not isolated)', () => {
    const { p, warnings } = loadNP('podSelector: {}\npolicyTypes: [Egress]');
    expect(p.policyTypes).toEqual(['Egress']);
    expect(warnings).toEqual([]);
  });

  it('policyTypes: repeats collapse, order is canonical', () => {
    expect(loadNP('podSelector: {}\npolicyTypes: [Egress, Ingress]').p.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(loadNP('podSelector: {}\npolicyTypes: [Egress, Egress]').p.policyTypes).toEqual(['Egress']);
  });

  it('rules of a type not in policyTypes are kept but warned about', () => {
    const { p, warnings } = loadNP('podSelector: {}\npolicyTypes: [Ingress]\negress: [{to: [{podSelector: {}}]}]');
    expect(p.egress).toHaveLength(1);
    expect(warnings.map((w) => w.code)).toEqual(['ignored-rules']);
    expect(warnings[0].message).toBe('test.yaml: document 1 (NetworkPolicy prod/p): spec.egress: policyTypes does not include Egress: these egress rules have no effect');
  });

  it('namespace defaults to default', () => {
    const { model } = loadText(np('podSelector: {}', '{name: p}'));
    expect(model.policies!.networkPolicies[0].namespace).toBe('default');
  });

  it('an empty rule, absent from/to and absent ports mean every peer and every port', () => {
    const { p } = loadNP('podSelector: {matchLabels: {app: db}}\ningress: [{}]\negress: [{ports: []}, null]');
    expect(p.podSelector).toEqual(sel({ app: 'db' }));
    expect(p.ingress).toEqual([{ peers: [], ports: [] }]);
    expect(p.egress).toEqual([{ peers: [], ports: [] }, { peers: [], ports: [] }]);
  });

  it('port protocol defaults to TCP; a port-less clause is every port of the protocol', () => {
    const { p } = loadNP('podSelector: {}\ningress: [{ports: [{port: 80}, {protocol: UDP}, {}]}]');
    expect(p.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 80 }, { protocol: 'UDP' }, { protocol: 'TCP' }]);
  });
});

describe('NetworkPolicy: fields', () => {
  it('peers: podSelector, namespaceSelector, and both together as one AND peer', () => {
    const { p } = loadNP(`podSelector: {}
ingress:
- from:
  - podSelector: {matchLabels: {role: frontend}}
  - namespaceSelector: {matchLabels: {team: a}}
  - namespaceSelector: {matchLabels: {team: b}}
    podSelector: {matchExpressions: [{key: role, operator: In, values: [api, web]}]}
  - namespaceSelector: {}`);
    expect(p.ingress[0].peers).toEqual([
      { kind: 'selector', podSelector: sel({ role: 'frontend' }) },
      { kind: 'selector', namespaceSelector: sel({ team: 'a' }) },
      { kind: 'selector', podSelector: { matchLabels: {}, matchExpressions: [{ key: 'role', operator: 'In', values: ['api', 'web'] }] }, namespaceSelector: sel({ team: 'b' }) },
      { kind: 'selector', namespaceSelector: ALL },
    ]);
  });

  it('matchExpressions operators Exists, DoesNotExist, NotIn', () => {
    const { p } = loadNP(`podSelector:
  matchExpressions:
  - {key: a, operator: Exists}
  - {key: b, operator: DoesNotExist}
  - {key: c, operator: NotIn, values: [x]}`);
    expect(p.podSelector.matchExpressions.map((e) => e.operator)).toEqual(['Exists', 'DoesNotExist', 'NotIn']);
  });

  it('ipBlock with except: canonical, sorted, deduplicated', () => {
    const { p, warnings } = loadNP(`podSelector: {}
egress:
- to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.2.0.0/16, 10.1.0.0/16, 10.1.0.0/16]}}]`);
    expect(p.egress[0].peers).toEqual([{ kind: 'ipBlock', cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.0.0/16'] }]);
    expect(warnings).toEqual([]);
  });

  it('ipBlock host bits are cleared with a warning', () => {
    const { p, warnings } = loadNP('podSelector: {}\negress: [{to: [{ipBlock: {cidr: 10.1.2.3/16, except: [10.1.2.3/24]}}]}]');
    expect(p.egress[0].peers).toEqual([{ kind: 'ipBlock', cidr: '10.1.0.0/16', except: ['10.1.2.0/24'] }]);
    expect(warnings.map((w) => w.message)).toEqual([
      'test.yaml: document 1 (NetworkPolicy prod/p): spec.egress[0].to[0].ipBlock.cidr: "10.1.2.3/16" has host bits set; read as 10.1.0.0/16',
      'test.yaml: document 1 (NetworkPolicy prod/p): spec.egress[0].to[0].ipBlock.except[0]: "10.1.2.3/24" has host bits set; read as 10.1.2.0/24',
    ]);
  });

  it('named port and endPort range', () => {
    const { p } = loadNP('podSelector: {}\ningress: [{ports: [{port: http}, {protocol: SCTP, port: 9000, endPort: 9100}, {port: 53, endPort: 53, protocol: UDP}]}]');
    expect(p.ingress[0].ports).toEqual([
      { protocol: 'TCP', port: 'http' },
      { protocol: 'SCTP', port: 9000, endPort: 9100 },
      { protocol: 'UDP', port: 53 }, // a one-port range is the port itself
    ]);
  });

  it('IPv6 ipBlock next to an IPv4 peer: the IPv6 peer is dropped with a warning, the rule stays', () => {
    const { p, warnings } = loadNP('podSelector: {}\ningress: [{from: [{ipBlock: {cidr: "fd00::/8", except: ["fd00:1::/32"]}}, {podSelector: {}}]}]');
    expect(p.ingress).toEqual([{ peers: [{ kind: 'selector', podSelector: ALL }], ports: [] }]);
    expect(warnings.map((w) => w.code)).toEqual(['ipv6-ignored']);
  });

  it('a rule whose only peers are IPv6 is dropped, not widened to every peer', () => {
    const { p, warnings } = loadNP('podSelector: {}\npolicyTypes: [Ingress]\ningress: [{from: [{ipBlock: {cidr: "2001:db8::/32"}}], ports: [{port: 80}]}, {from: [{podSelector: {}}]}]');
    expect(p.ingress).toEqual([{ peers: [{ kind: 'selector', podSelector: ALL }], ports: [] }]);
    expect(warnings.map((w) => w.code)).toEqual(['ipv6-ignored', 'ipv6-rule-dropped']);
    expect(warnings[1].message).toContain('spec.ingress[0]: every peer of this rule is IPv6: the rule matches no IPv4 traffic and is dropped');
  });

  it('dropping the only rule keeps the policy isolating (deny all ingress)', () => {
    const { p } = loadNP('podSelector: {}\ningress: [{from: [{ipBlock: {cidr: "::/0"}}]}]');
    expect(p.policyTypes).toEqual(['Ingress']);
    expect(p.ingress).toEqual([]);
  });

  it('warns about `to` in an ingress rule (it would be ignored)', () => {
    const { warnings } = loadNP('podSelector: {}\ningress: [{to: [{podSelector: {}}]}]');
    expect(warnings.map((w) => [w.code, w.message])).toEqual([['unknown-field', expect.stringContaining('spec.ingress[0].to: unknown field (ignored, as the API server prunes it); did you mean `from`')]]);
  });

  it('policies are sorted by namespace and name; implicit namespaces are added', () => {
    const { model } = loadText([np('podSelector: {}', '{name: z, namespace: b}'), np('podSelector: {}', '{name: y, namespace: a}'), np('podSelector: {}', '{name: x, namespace: b}')].join('---\n'));
    expect(model.policies!.networkPolicies.map((p) => `${p.namespace}/${p.name}`)).toEqual(['a/y', 'b/x', 'b/z']);
    expect(model.namespaces.map((n) => n.name)).toEqual(['a', 'b', 'default']);
    expect(model.namespaces[0].labels).toEqual({ 'kubernetes.io/metadata.name': 'a' });
  });

  it('reads a List and a typed NetworkPolicyList (items without kind)', () => {
    const text = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- metadata: {name: one, namespace: prod}
  spec: {podSelector: {}}
- metadata: {name: two, namespace: prod}
  spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: v1
kind: List
items:
- apiVersion: policy.networking.k8s.io/v1alpha1
  kind: AdminNetworkPolicy
  metadata: {name: anp}
  spec: {priority: 3, subject: {namespaces: {}}}`;
    const { model } = loadText(text);
    expect(model.policies!.networkPolicies.map((p) => [p.name, p.policyTypes, p.source])).toEqual([
      ['one', ['Ingress'], { file: 'test.yaml', document: 1, item: 0 }],
      ['two', ['Egress'], { file: 'test.yaml', document: 1, item: 1 }],
    ]);
    expect(model.policies!.adminPolicies[0].source).toEqual({ file: 'test.yaml', document: 2, item: 0 });
  });

  it('a model without policies has no policies field', () => {
    expect(loadText('apiVersion: v1\nkind: Namespace\nmetadata: {name: x}').model.policies).toBeUndefined();
  });
});

describe('NetworkPolicy: errors name file, object and field', () => {
  const at = 'test.yaml: document 1 (NetworkPolicy prod/p): ';
  const cases: [string, string, string][] = [
    ['bad policy type', 'podSelector: {}\npolicyTypes: [Ingres]', 'spec.policyTypes[0]: must be one of "Ingress", "Egress", got "Ingres"'],
    ['three policy types', 'podSelector: {}\npolicyTypes: [Ingress, Egress, Ingress]', 'spec.policyTypes: may not specify more than two policyTypes, got 3'],
    ['empty peer', 'podSelector: {}\ningress: [{from: [{}]}]', 'spec.ingress[0].from[0]: must specify a peer (podSelector, namespaceSelector and/or ipBlock)'],
    ['ipBlock with a selector', 'podSelector: {}\negress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]', 'spec.egress[0].to[0]: may not specify both ipBlock and another peer'],
    ['bad cidr', 'podSelector: {}\negress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]', 'spec.egress[0].to[0].ipBlock.cidr: IPv4 prefix length must be 0..32, got "10.0.0.0/33"'],
    ['missing cidr', 'podSelector: {}\negress: [{to: [{ipBlock: {except: [10.0.0.0/8]}}]}]', 'spec.egress[0].to[0].ipBlock.cidr: required'],
    ['except outside cidr', 'podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/24, except: [192.168.0.0/24]}}]}]', 'spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of `cidr` (10.0.0.0/24), got "192.168.0.0/24"'],
    ['except equal to cidr', 'podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.0/24]}}]}]', 'spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of `cidr` (10.0.0.0/24), got "10.0.0.0/24"'],
    ['IPv6 except in an IPv4 cidr', 'podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ["fd00::/8"]}}]}]', 'spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of `cidr` (10.0.0.0/8), got "fd00::/8"'],
    ['port 0', 'podSelector: {}\ningress: [{ports: [{port: 0}]}]', 'spec.ingress[0].ports[0].port: must be an integer in 1..65535, got 0'],
    ['quoted port number', 'podSelector: {}\ningress: [{ports: [{port: "80"}]}]', 'spec.ingress[0].ports[0].port: must contain at least one letter (a-z) (a port number must not be quoted), got "80"'],
    ['bad port name', 'podSelector: {}\ningress: [{ports: [{port: Http_Port}]}]', 'spec.ingress[0].ports[0].port: must contain only lowercase alphanumeric characters (a-z, 0-9) and hyphens (-), got "Http_Port"'],
    ['ICMP', 'podSelector: {}\ningress: [{ports: [{protocol: ICMP}]}]', 'spec.ingress[0].ports[0].protocol: must be one of "TCP", "UDP", "SCTP", got "ICMP"'],
    ['endPort without port', 'podSelector: {}\ningress: [{ports: [{endPort: 90}]}]', 'spec.ingress[0].ports[0].endPort: may not be specified when `port` is not specified'],
    ['endPort with a named port', 'podSelector: {}\ningress: [{ports: [{port: http, endPort: 90}]}]', 'spec.ingress[0].ports[0].endPort: may not be specified when `port` is non-numeric'],
    ['endPort below port', 'podSelector: {}\ningress: [{ports: [{port: 80}, {port: 100, endPort: 90}]}]', 'spec.ingress[0].ports[1].endPort: must be greater than or equal to `port` (100), got 90'],
    ['In without values', 'podSelector: {matchExpressions: [{key: a, operator: In}]}', 'spec.podSelector.matchExpressions[0].values: must be non-empty when operator is In'],
    ['Exists with values', 'podSelector: {}\ningress: [{from: [{namespaceSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}]}]', 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values: must be empty when operator is Exists'],
    ['bad operator', 'podSelector: {matchExpressions: [{key: a, operator: Equals, values: [x]}]}', 'spec.podSelector.matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist", got "Equals"'],
    ['bad expression value', 'podSelector: {matchExpressions: [{key: a, operator: In, values: ["not ok"]}]}', 'spec.podSelector.matchExpressions[0].values[0]: must be empty or consist of alphanumeric characters'],
    ['bad label value', 'podSelector: {matchLabels: {app: "a b"}}', 'spec.podSelector.matchLabels.app: must be empty or consist'],
    ['rules not a list', 'podSelector: {}\ningress: {from: []}', 'spec.ingress: must be a list, got an object'],
  ];
  for (const [what, spec, msg] of cases) {
    it(what, () => expect(npError(spec)).toContain(at + msg));
  }

  it('missing spec', () => {
    expect(errorOf(() => loadText('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}'))).toBe('test.yaml: document 1 (NetworkPolicy default/p): spec: required');
  });

  it('wrong API group', () => {
    expect(errorOf(() => loadText('apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}')))
      .toBe('test.yaml: document 1 (NetworkPolicy default/p): apiVersion: NetworkPolicy is served as networking.k8s.io/v1, got "extensions/v1beta1"');
  });

  it('duplicate policy: the later definition is used', () => {
    const { model, warnings } = loadText([np('podSelector: {}'), np('podSelector: {matchLabels: {a: b}}')].join('---\n'));
    expect(model.policies!.networkPolicies).toHaveLength(1);
    expect(warnings.map((w) => w.code)).toEqual(['duplicate-object']);
  });

  it('error in a List item names the item', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: ok, namespace: x}\n  spec: {podSelector: {}}\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: bad, namespace: x}\n  spec: {podSelector: {}, egress: [{ports: [{port: 70000}]}]}';
    expect(errorOf(() => loadText(text))).toBe('test.yaml: document 1, items[1] (NetworkPolicy x/bad): spec.egress[0].ports[0].port: must be an integer in 1..65535, got 70000');
  });
});

describe('AdminNetworkPolicy', () => {
  const full = `priority: 10
subject:
  pods:
    namespaceSelector: {matchLabels: {env: prod}}
    podSelector: {}
ingress:
- name: deny-sandbox
  action: Deny
  from: [{namespaces: {matchLabels: {env: sandbox}}}]
- name: pass-monitoring
  action: Pass
  from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: prometheus}}}}]
  ports:
  - portNumber: {port: 9090}
  - portRange: {protocol: UDP, start: 5000, end: 5100}
  - namedPort: metrics
egress:
- action: Allow
  to:
  - nodes: {matchLabels: {role: infra}}
  - networks: [192.0.2.0/24, 10.0.0.0/8, "2001:db8::/32"]`;

  it('reads every field', () => {
    const { p, warnings } = loadAdmin(anp(full));
    expect(p).toEqual({
      kind: 'AdminNetworkPolicy', name: 'a', tier: 'Admin', priority: 10,
      subject: { kind: 'pods', namespaceSelector: sel({ env: 'prod' }), podSelector: ALL },
      ingress: [
        { name: 'deny-sandbox', action: 'Deny', peers: [{ kind: 'namespaces', namespaceSelector: sel({ env: 'sandbox' }) }] },
        {
          name: 'pass-monitoring', action: 'Pass',
          peers: [{ kind: 'pods', namespaceSelector: ALL, podSelector: sel({ app: 'prometheus' }) }],
          ports: [
            { protocol: 'TCP', port: 9090 },
            { protocol: 'UDP', port: 5000, endPort: 5100 },
            { protocol: 'TCP', port: 'metrics', anyProtocol: true },
          ],
        },
      ],
      egress: [{
        name: '', action: 'Allow',
        peers: [{ kind: 'nodes', nodeSelector: sel({ role: 'infra' }) }, { kind: 'networks', cidrs: ['10.0.0.0/8', '192.0.2.0/24'] }],
      }],
      source: { file: 'test.yaml', document: 1 },
    });
    expect(warnings.map((w) => [w.code, w.message])).toEqual([['ipv6-ignored', 'test.yaml: document 1 (AdminNetworkPolicy a): spec.egress[0].to[1].networks: 1 IPv6 CIDR(s) dropped (dpemu is IPv4-only)']]);
  });

  it('is cluster-scoped: metadata.namespace is ignored', () => {
    const { p } = loadAdmin(anp('priority: 1\nsubject: {namespaces: {}}').replace('{name: a}', '{name: a, namespace: prod}'));
    expect(p.name).toBe('a');
  });

  it('a networks peer with only IPv6 CIDRs is dropped; a rule left without peers is dropped', () => {
    const { p, warnings } = loadAdmin(anp('priority: 1\nsubject: {namespaces: {}}\negress:\n- {action: Deny, to: [{networks: ["fd00::/8"]}]}\n- {action: Deny, to: [{networks: ["fd00::/8"]}, {namespaces: {}}]}'));
    expect(p.egress).toEqual([{ name: '', action: 'Deny', peers: [{ kind: 'namespaces', namespaceSelector: ALL }] }]);
    expect(warnings.map((w) => w.code)).toEqual(['ipv6-ignored', 'ipv6-rule-dropped', 'ipv6-ignored']);
  });

  it('an empty ports list does not filter by port', () => {
    const { p } = loadAdmin(anp('priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Allow, from: [{namespaces: {}}], ports: []}]'));
    expect(p.ingress[0].ports).toBeUndefined();
  });

  const at = 'test.yaml: document 1 (AdminNetworkPolicy a): ';
  const cases: [string, string, string][] = [
    ['priority missing', 'subject: {namespaces: {}}', 'spec.priority: required'],
    ['priority out of range', 'priority: 1001\nsubject: {namespaces: {}}', 'spec.priority: must be an integer in 0..1000, got 1001'],
    ['subject missing', 'priority: 1', 'spec.subject: required'],
    ['subject with both', 'priority: 1\nsubject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}', 'spec.subject: must set exactly one of namespaces, pods, got namespaces and pods'],
    ['subject with none', 'priority: 1\nsubject: {nodes: {}}', 'spec.subject: must set exactly one of namespaces, pods, got none (unknown: nodes)'],
    ['pods without namespaceSelector', 'priority: 1\nsubject: {pods: {podSelector: {}}}', 'spec.subject.pods.namespaceSelector: required (use {} for every namespace)'],
    ['pods without podSelector', 'priority: 1\nsubject: {pods: {namespaceSelector: {}}}', 'spec.subject.pods.podSelector: required (use {} for every pod)'],
    ['action missing', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{from: [{namespaces: {}}]}]', 'spec.ingress[0].action: required (Allow, Deny, Pass)'],
    ['Accept is a CNP action', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Accept, from: [{namespaces: {}}]}]', 'spec.ingress[0].action: must be one of "Allow", "Deny", "Pass", got "Accept" (AdminNetworkPolicy calls it Allow)'],
    ['from missing', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny}]', 'spec.ingress[0].from: required (at least one peer)'],
    ['networks in an ingress peer', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{networks: [10.0.0.0/8]}]}]', 'spec.ingress[0].from[0]: must set exactly one of namespaces, pods, got none (unknown: networks)'],
    ['two fields in a peer', 'priority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{namespaces: {}, nodes: {}}]}]', 'spec.egress[0].to[0]: must set exactly one of namespaces, pods, nodes, networks, got namespaces and nodes'],
    ['empty networks', 'priority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{networks: []}]}]', 'spec.egress[0].to[0].networks: must hold 1..25 CIDRs, got 0'],
    ['bad network', 'priority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{networks: [10.0.0.300/8]}]}]', 'spec.egress[0].to[0].networks[0]: must be a CIDR'],
    ['IPv4-embedded IPv6', 'priority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{networks: ["::ffff:10.0.0.0/104"]}]}]', 'spec.egress[0].to[0].networks[0]: CIDR must be either an IPv4 or IPv6 address'],
    ['portRange start not below end', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], ports: [{portRange: {start: 90, end: 90}}]}]', 'spec.ingress[0].ports[0].portRange: Start port must be less than End port, got 90..90'],
    ['port with two kinds', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 80}, namedPort: http}]}]', 'spec.ingress[0].ports[0]: must set exactly one of portNumber, namedPort, portRange, got portNumber and namedPort'],
    ['portNumber without port', 'priority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {protocol: UDP}}]}]', 'spec.ingress[0].ports[0].portNumber.port: required'],
    ['named port with networks', 'priority: 1\nsubject: {namespaces: {}}\negress: [{action: Allow, to: [{pods: {namespaceSelector: {}, podSelector: {}}}, {networks: [10.0.0.0/8]}], ports: [{namedPort: http}]}]', 'spec.egress[0].to[1]: networks/nodes/domainNames peer cannot be set with named ports'],
    ['rule name too long', `priority: 1\nsubject: {namespaces: {}}\ningress: [{name: ${'x'.repeat(101)}, action: Deny, from: [{namespaces: {}}]}]`, 'spec.ingress[0].name: may be at most 100 characters, got 101'],
  ];
  for (const [what, spec, msg] of cases) {
    it(`error: ${what}`, () => expect(errorOf(() => loadText(anp(spec)))).toContain(at + msg));
  }

  it('error: more than 100 rules', () => {
    const rules = Array.from({ length: 101 }, () => '- {action: Deny, from: [{namespaces: {}}]}').join('\n');
    expect(errorOf(() => loadText(anp(`priority: 1\nsubject: {namespaces: {}}\ningress:\n${rules}`)))).toBe(`${at}spec.ingress: may hold at most 100 rules, got 101`);
  });
});

describe('BaselineAdminNetworkPolicy', () => {
  const banp = (spec: string, name = 'default') => anp(spec, name, 'BaselineAdminNetworkPolicy');

  it('is the Baseline tier at priority 0', () => {
    const { p } = loadAdmin(banp('subject: {namespaces: {matchLabels: {env: prod}}}\ningress: [{action: Deny, from: [{namespaces: {}}]}]'));
    expect(p).toMatchObject({ kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0 });
    expect(p.ingress[0].action).toBe('Deny');
  });

  it('must be named default', () => {
    expect(errorOf(() => loadText(banp('subject: {namespaces: {}}', 'base'))))
      .toBe('test.yaml: document 1 (BaselineAdminNetworkPolicy base): metadata.name: must be "default": only one BaselineAdminNetworkPolicy, named "default", can exist in a cluster; got "base"');
  });

  it('has no Pass action', () => {
    expect(errorOf(() => loadText(banp('subject: {namespaces: {}}\negress: [{action: Pass, to: [{namespaces: {}}]}]'))))
      .toBe('test.yaml: document 1 (BaselineAdminNetworkPolicy default): spec.egress[0].action: must be one of "Allow", "Deny", got "Pass" (Pass is not allowed in the Baseline tier: there is no lower tier to pass to)');
  });

  it('is a singleton: a second definition of "default" replaces the first', () => {
    const { model, warnings } = loadText([banp('subject: {namespaces: {}}'), banp('subject: {namespaces: {}}')].join('---\n'));
    expect(model.policies!.adminPolicies).toHaveLength(1);
    expect(warnings.map((w) => w.message)).toEqual(['test.yaml: document 1 (BaselineAdminNetworkPolicy default): defined again in test.yaml: document 2; the later definition is used, as kubectl apply would update the object']);
  });
});

describe('ClusterNetworkPolicy v1alpha2', () => {
  it('reads tier, priority, Accept as Allow, protocols', () => {
    const { p } = loadAdmin(cnp(`tier: Admin
priority: 5
subject: {pods: {podSelector: {matchLabels: {app: web}}}}
ingress:
- name: accept-lb
  action: Accept
  from: [{namespaces: {matchLabels: {role: lb}}}]
  protocols:
  - tcp: {destinationPort: {number: 443}}
  - udp: {destinationPort: {range: {start: 6000, end: 6010}}}
  - sctp: {destinationPort: {number: 9}}
  - destinationNamedPort: https
egress:
- action: Pass
  to: [{nodes: {}}]`));
    expect(p).toEqual({
      kind: 'ClusterNetworkPolicy', name: 'c', tier: 'Admin', priority: 5,
      subject: { kind: 'pods', namespaceSelector: ALL, podSelector: sel({ app: 'web' }) },
      ingress: [{
        name: 'accept-lb', action: 'Allow', peers: [{ kind: 'namespaces', namespaceSelector: sel({ role: 'lb' }) }],
        ports: [
          { protocol: 'TCP', port: 443 }, { protocol: 'UDP', port: 6000, endPort: 6010 }, { protocol: 'SCTP', port: 9 },
          { protocol: 'TCP', port: 'https', anyProtocol: true },
        ],
      }],
      egress: [{ name: '', action: 'Pass', peers: [{ kind: 'nodes', nodeSelector: ALL }] }],
      source: { file: 'test.yaml', document: 1 },
    });
  });

  it('domainNames peers are dropped with a warning (Accept only)', () => {
    const { p, warnings } = loadAdmin(cnp('tier: Admin\npriority: 1\nsubject: {namespaces: {}}\negress: [{action: Accept, to: [{domainNames: ["*.example.com"]}, {namespaces: {}}]}]'));
    expect(p.egress[0].peers).toEqual([{ kind: 'namespaces', namespaceSelector: ALL }]);
    expect(warnings.map((w) => w.code)).toEqual(['domain-names-unsupported']);
  });

  const at = 'test.yaml: document 1 (ClusterNetworkPolicy c): ';
  const cases: [string, string, string][] = [
    ['tier missing', 'priority: 1\nsubject: {namespaces: {}}', 'spec.tier: required ("Admin" or "Baseline")'],
    ['bad tier', 'tier: Developer\npriority: 1\nsubject: {namespaces: {}}', 'spec.tier: must be one of "Admin", "Baseline", got "Developer"'],
    ['Pass in Baseline', 'tier: Baseline\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Pass, from: [{namespaces: {}}]}]', 'spec.ingress[0].action: must be one of "Accept", "Deny", got "Pass" (Pass is not allowed in the Baseline tier: there is no lower tier to pass to)'],
    ['Allow is an ANP action', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Allow, from: [{namespaces: {}}]}]', 'spec.ingress[0].action: must be one of "Accept", "Deny", "Pass", got "Allow" (ClusterNetworkPolicy calls it Accept)'],
    ['tcp without destinationPort', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {}}]}]', 'spec.ingress[0].protocols[0].tcp.destinationPort: required (a number or a range)'],
    ['number and range', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 1, range: {start: 1, end: 2}}}}]}]', 'spec.ingress[0].protocols[0].tcp.destinationPort: must set exactly one of number, range, got number and range'],
    ['empty protocols', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], protocols: []}]', 'spec.ingress[0].protocols: must hold at least one entry (leave it out to match every port)'],
    ['range start above end', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{namespaces: {}}], protocols: [{udp: {destinationPort: {range: {start: 10, end: 5}}}}]}]', 'spec.egress[0].protocols[0].udp.destinationPort.range: Start port must be less than End port, got 10..5'],
    ['domainNames in a Deny rule', 'tier: Admin\npriority: 1\nsubject: {namespaces: {}}\negress: [{action: Deny, to: [{domainNames: [example.com]}]}]', 'spec.egress[0].to[0].domainNames: is only supported in Accept rules'],
    ['more than 25 rules', `tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress:\n${Array.from({ length: 26 }, () => '- {action: Deny, from: [{namespaces: {}}]}').join('\n')}`, 'spec.ingress: may hold at most 25 rules, got 26'],
  ];
  for (const [what, spec, msg] of cases) {
    it(`error: ${what}`, () => expect(errorOf(() => loadText(cnp(spec)))).toBe(at + msg));
  }

  it('ports (the v1alpha1 field) on a CNP rule is warned about', () => {
    const { warnings } = loadAdmin(cnp('tier: Admin\npriority: 1\nsubject: {namespaces: {}}\ningress: [{action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 80}}]}]'));
    expect(warnings.map((w) => w.message)).toEqual([`${at}spec.ingress[0].ports: unknown field for ClusterNetworkPolicy (ignored, so the rule matches every port); did you mean \`protocols\`?`]);
  });
});

describe('admin policy order and priority ties', () => {
  it('sorts by tier, priority, kind, name and warns once per tie', () => {
    const files = [
      { path: 'a.yaml', text: anp('subject: {namespaces: {}}', 'default', 'BaselineAdminNetworkPolicy') },
      { path: 'b.yaml', text: [anp('priority: 20\nsubject: {namespaces: {}}', 'zeta'), anp('priority: 20\nsubject: {namespaces: {}}', 'alpha'), anp('priority: 5\nsubject: {namespaces: {}}', 'first')].join('---\n') },
      { path: 'c.yaml', text: [cnp('tier: Baseline\npriority: 3\nsubject: {namespaces: {}}', 'base3'), cnp('tier: Admin\npriority: 20\nsubject: {namespaces: {}}', 'cnp20')].join('---\n') },
    ];
    const { model, warnings } = loadManifests(files);
    expect(model.policies!.adminPolicies.map((p) => `${p.tier}/${p.priority}/${p.kind}/${p.name}`)).toEqual([
      'Admin/5/AdminNetworkPolicy/first',
      'Admin/20/AdminNetworkPolicy/alpha',
      'Admin/20/AdminNetworkPolicy/zeta',
      'Admin/20/ClusterNetworkPolicy/cnp20',
      'Baseline/0/BaselineAdminNetworkPolicy/default',
      'Baseline/3/ClusterNetworkPolicy/base3',
    ]);
    expect(warnings.map((w) => [w.code, w.object])).toEqual([['admin-priority-tie', 'AdminNetworkPolicy alpha']]);
    expect(warnings[0].message).toBe('b.yaml: document 2 (AdminNetworkPolicy alpha): spec.priority: 3 policies of the Admin tier share priority 20 (AdminNetworkPolicy alpha, AdminNetworkPolicy zeta, ClusterNetworkPolicy cnp20): where their rules overlap the API leaves the outcome undefined; dpemu evaluates them in this order (kind, then name). Give each policy its own priority.');
  });

  it('a Baseline CNP at priority 0 ties with the BANP', () => {
    const { warnings } = loadText([anp('subject: {namespaces: {}}', 'default', 'BaselineAdminNetworkPolicy'), cnp('tier: Baseline\npriority: 0\nsubject: {namespaces: {}}', 'b0')].join('---\n'));
    expect(warnings.map((w) => w.code)).toEqual(['admin-priority-tie']);
  });

  it('the same priority in different tiers is no tie', () => {
    const { warnings } = loadText([anp('priority: 0\nsubject: {namespaces: {}}', 'a0'), cnp('tier: Baseline\npriority: 0\nsubject: {namespaces: {}}', 'b0')].join('---\n'));
    expect(warnings).toEqual([]);
  });
});
