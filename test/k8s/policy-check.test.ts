import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../src/k8s/check.js';
import { loadFiles, readManifestFiles } from '../../src/k8s/files.js';
import { loadManifests } from '../../src/k8s/load.js';
import { Diagnostic } from '../../src/k8s/model.js';

// The example's cluster (nodes, namespaces, workloads) without its policies, plus the policies under test.
const CLUSTER = readManifestFiles(['examples/netpol/00-cluster.yaml', 'examples/netpol/10-workloads.yaml']);

function check(policies: string): Diagnostic[] {
  const { model, warnings } = loadManifests([...CLUSTER, { path: 'p.yaml', text: policies }]);
  expect(warnings).toEqual([]);
  return checkCluster(model);
}
const codes = (d: Diagnostic[]) => d.map((x) => `${x.code} ${x.object}`);

const np = (name: string, spec: string, ns = 'shop') => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec.replace(/^/gm, '  ')}
---
`;
const ALLOW_DNS = np('allow-dns', `podSelector: {}
policyTypes: [Egress]
egress:
- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
  ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]`);
const DENY_EGRESS = np('deny-egress', 'podSelector: {}\npolicyTypes: [Egress]');

describe('examples/netpol', () => {
  it('loads without warnings and checks clean', () => {
    const { model, warnings } = loadFiles(['examples/netpol']);
    expect(warnings).toEqual([]);
    expect(checkCluster(model)).toEqual([]);
    expect(model.policies!.networkPolicies.map((p) => p.name)).toEqual(['allow-dns', 'api-egress', 'api-ingress', 'default-deny', 'frontend-egress', 'frontend-ingress']);
    expect(model.policies!.adminPolicies.map((p) => `${p.kind} ${p.name}`)).toEqual(['AdminNetworkPolicy isolate-sandbox', 'BaselineAdminNetworkPolicy default']);
  });
});

describe('policy-selects-nothing', () => {
  it('a NetworkPolicy whose podSelector matches no pod of its namespace, pointing at pods elsewhere', () => {
    const d = check(np('ledger-only', 'podSelector: {matchLabels: {app: ledger}}'));
    expect(codes(d)).toEqual(['policy-selects-nothing NetworkPolicy shop/ledger-only']);
    expect(d[0].severity).toBe('warning');
    expect(d[0].source).toEqual({ file: 'p.yaml', document: 1 });
    expect(d[0].message).toMatch(/^NetworkPolicy shop\/ledger-only \(p\.yaml: document 1\): podSelector app=ledger selects no pod in namespace shop, so the policy has no effect; pods there: api-\w+-\w+ \{app=api,pod-template-hash=\w+\}, frontend-\w+-\w+ \{.*\}; matching pods exist in other namespaces \(payments\/ledger-\w+-\w+\), but a NetworkPolicy only selects pods in its own namespace$/);
  });

  it('a NetworkPolicy in a namespace without pods', () => {
    expect(check(np('x', 'podSelector: {}', 'empty'))[0].message).toContain('podSelector {} (everything) selects no pod in namespace empty, so the policy has no effect; the namespace has no pods');
  });

  it('not for a policy that selects pods', () => {
    expect(check(np('api', 'podSelector: {matchLabels: {app: api}}'))).toEqual([]);
  });

  it('an AdminNetworkPolicy whose subject matches no namespace, or no pod', () => {
    const d = check(`apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: staging}
spec: {priority: 1, subject: {namespaces: {matchLabels: {env: staging}}}}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: dbs}
spec: {tier: Admin, priority: 2, subject: {pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {app: db}}}}}
`);
    expect(d.map((x) => x.message)).toEqual([
      'AdminNetworkPolicy staging (p.yaml: document 1): spec.subject selects no pod (namespace selector env=staging matches no namespace), so the policy has no effect',
      'ClusterNetworkPolicy dbs (p.yaml: document 2): spec.subject selects no pod (podSelector app=db matches no pod in the namespaces it selects (payments, shop)), so the policy has no effect',
    ]);
  });
});

describe('peer-matches-nothing', () => {
  it('podSelector and namespaceSelector peers that match nothing; ipBlock peers are fine', () => {
    const d = check(np('api-in', `podSelector: {matchLabels: {app: api}}
ingress:
- from:
  - podSelector: {matchLabels: {app: fronted}}
  - namespaceSelector: {matchLabels: {purpose: monitor}}
  - namespaceSelector: {matchLabels: {purpose: monitoring}}
    podSelector: {matchLabels: {app: grafana}}
  - ipBlock: {cidr: 192.0.2.0/24}
  - podSelector: {matchLabels: {app: frontend}}`));
    expect(d.map((x) => x.message)).toEqual([
      'NetworkPolicy shop/api-in (p.yaml: document 1): spec.ingress[0].from[0]: podSelector app=fronted matches no pod in namespace shop, so this peer allows nothing; check the labels (namespaces carry kubernetes.io/metadata.name=<name>)',
      'NetworkPolicy shop/api-in (p.yaml: document 1): spec.ingress[0].from[1]: namespaceSelector purpose=monitor matches no namespace, so this peer allows nothing; check the labels (namespaces carry kubernetes.io/metadata.name=<name>)',
      'NetworkPolicy shop/api-in (p.yaml: document 1): spec.ingress[0].from[2]: podSelector app=grafana matches no pod in the namespaces it selects (monitoring), so this peer allows nothing; check the labels (namespaces carry kubernetes.io/metadata.name=<name>)',
    ]);
    expect(new Set(d.map((x) => x.code))).toEqual(new Set(['peer-matches-nothing']));
  });

  it('admin peers: namespaces and nodes that match nothing; networks are fine', () => {
    const d = check(`apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec:
  priority: 1
  subject: {namespaces: {matchLabels: {env: prod}}}
  egress:
  - name: to-staging
    action: Deny
    to: [{namespaces: {matchLabels: {env: staging}}}, {networks: [192.0.2.0/24]}, {nodes: {matchLabels: {role: gpu}}}, {nodes: {}}]
`);
    expect(d.map((x) => x.message)).toEqual([
      'AdminNetworkPolicy a (p.yaml: document 1): spec.egress[0] (to-staging).to[0]: namespace selector env=staging matches no namespace, so this Deny peer matches nothing; check the labels',
      'AdminNetworkPolicy a (p.yaml: document 1): spec.egress[0] (to-staging).to[2]: nodes role=gpu matches no node, so this Deny peer matches nothing; check the labels',
    ]);
  });
});

describe('egress-without-dns', () => {
  it('fires for pods isolated for egress with no DNS rule, naming the policy and the fix', () => {
    const d = check(DENY_EGRESS);
    expect(codes(d)).toEqual(['egress-without-dns NetworkPolicy shop/deny-egress']);
    expect(d[0].message).toMatch(/^NetworkPolicy shop\/deny-egress \(p\.yaml: document 1\): isolates 2 pod\(s\) for egress \(api-\S+, frontend-\S+\), but no egress rule of the NetworkPolicies selecting them allows DNS \(port 53\) to the cluster DNS pods \(namespace kube-system, k8s-app=kube-dns\): every name lookup from them times out; add an egress rule `to: \[\{namespaceSelector: \{matchLabels: \{kubernetes.io\/metadata.name: kube-system\}\}, podSelector: \{matchLabels: \{k8s-app: kube-dns\}\}\}\]` with `ports: \[\{protocol: UDP, port: 53\}, \{protocol: TCP, port: 53\}\]`$/);
  });

  it('not when another policy selecting the pods allows DNS to the kube-dns pods', () => {
    expect(check(DENY_EGRESS + ALLOW_DNS)).toEqual([]);
  });

  it('only for the pods left without DNS', () => {
    const d = check(DENY_EGRESS + ALLOW_DNS.replace('podSelector: {}\n', 'podSelector: {matchLabels: {app: api}}\n'));
    expect(d[0].message).toMatch(/isolates 1 pod\(s\) for egress \(frontend-\S+\)/);
  });

  it('UDP only: fires about TCP', () => {
    const d = check(DENY_EGRESS + ALLOW_DNS.replace(', {protocol: TCP, port: 53}', ''));
    expect(codes(d)).toEqual(['egress-without-dns NetworkPolicy shop/allow-dns', 'egress-without-dns NetworkPolicy shop/deny-egress']);
    expect(d[1].message).toContain('their egress rules allow DNS over UDP but not over TCP (port 53)');
  });

  it('DNS to any destination counts: a rule without peers, or ipBlock 0.0.0.0/0', () => {
    expect(check(DENY_EGRESS + np('any-53', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]'))).toEqual([]);
    expect(check(DENY_EGRESS + np('any-53', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]'))).toEqual([]);
  });

  it('port ranges and named ports of the DNS pods count', () => {
    expect(check(DENY_EGRESS + np('range', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{ports: [{protocol: UDP, port: 1, endPort: 1024}, {protocol: TCP, port: 50, endPort: 60}]}]'))).toEqual([]);
    expect(check(DENY_EGRESS + np('named', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{namespaceSelector: {}}], ports: [{protocol: UDP, port: dns}, {protocol: TCP, port: dns-tcp}]}]'))).toEqual([]);
  });

  it('a DNS rule to the wrong place does not count', () => {
    const d = check(DENY_EGRESS + np('wrong', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{podSelector: {}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]'));
    expect(codes(d)).toEqual(['egress-without-dns NetworkPolicy shop/deny-egress', 'egress-without-dns NetworkPolicy shop/wrong']);
  });

  it('not for policies that isolate ingress only', () => {
    expect(check(np('deny-in', 'podSelector: {}\npolicyTypes: [Ingress]'))).toEqual([]);
  });

  it('an Admin-tier Allow of DNS for the pods counts', () => {
    const anp = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: dns}
spec:
  priority: 1
  subject: {namespaces: {}}
  egress:
  - action: Allow
    to: [{pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}}]
    ports: [{portNumber: {protocol: UDP, port: 53}}, {portNumber: {protocol: TCP, port: 53}}]
`;
    expect(check(DENY_EGRESS + anp)).toEqual([]);
  });

  it('without DNS pods in the cluster, a rule to kube-system pods labelled k8s-app=kube-dns still counts', () => {
    const cluster = CLUSTER.map((f) => ({ ...f, text: f.text.replace(/k8s-app: kube-dns/g, 'k8s-app: coredns') }));
    const { model } = loadManifests([...cluster, { path: 'p.yaml', text: DENY_EGRESS + ALLOW_DNS }]);
    expect(checkCluster(model).filter((x) => x.code === 'egress-without-dns')).toEqual([]);
    const { model: m2 } = loadManifests([...cluster, { path: 'p.yaml', text: DENY_EGRESS }]);
    expect(codes(checkCluster(m2))).toEqual(['egress-without-dns NetworkPolicy shop/deny-egress']);
  });
});
