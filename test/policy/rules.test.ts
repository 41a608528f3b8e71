// Every rule of NetworkPolicy and the admin tiers on a small hand-written
// cluster, including the classic mistakes. Each case is checked three ways:
// the spec evaluator, and first packets through the core and the reference.
import { describe, it, expect } from 'vitest';
import type { ClusterModel } from '../../src/k8s/model.js';
import type { ClusterPolicies, PolicyKnobs } from '../../src/policy/model.js';
import type { Connection } from '../../src/policy/spec.js';
import {
  KINDS, PolicyHarness, aRule, anp, banp, cnp, cport, ipBlock, model, node, np, ns, nsSubject, pod, podPeer, podsSubject,
  policies, port, rule, sel, showOutcome,
} from './helpers.js';

const WEB = '10.0.1.10', DB = '10.0.2.10', API = '10.0.1.11', DEV_WEB = '10.0.2.11', TOOL = '10.0.1.12', MON = '10.0.2.12';
const N1 = '192.168.0.1', N2 = '192.168.0.2', EXT = '203.0.113.5', EXT2 = '203.0.113.200';

function cluster(p: ClusterPolicies): ClusterModel {
  return model(
    [ns('prod', { env: 'prod' }), ns('dev', { env: 'dev' }), ns('ops', { env: 'prod', team: 'ops' })],
    [node('n1', N1, '10.0.1.0/24', { role: 'worker' }), node('n2', N2, '10.0.2.0/24', { role: 'infra' })],
    [
      pod('prod', 'web', { app: 'web' }, WEB, 'n1', [cport('http', 8080)]),
      pod('prod', 'db', { app: 'db' }, DB, 'n2', [cport('sql', 5432), cport('http', 8080, 'UDP')]),
      pod('prod', 'api', { app: 'api', tier: 'be' }, API, 'n1', [cport('http', 8080, 'UDP')]),
      pod('dev', 'web', { app: 'web' }, DEV_WEB, 'n2', [cport('http', 8080)]),
      pod('dev', 'tool', { app: 'tool' }, TOOL, 'n1'),
      pod('ops', 'mon', { app: 'mon', tier: 'x' }, MON, 'n2'),
    ],
    p,
  );
}

type Case = [src: string, dst: string, proto: Connection['protocol'], port: number, expected: string];

async function expectOutcomes(p: ClusterPolicies, cases: Case[], knobs: Partial<PolicyKnobs> = {}): Promise<void> {
  const conns: Connection[] = cases.map(([src, dst, protocol, port]) => ({ src, dst, protocol, port }));
  const want = cases.map((c) => c[4]);
  for (const kind of KINDS) {
    const h = await PolicyHarness.create(kind, cluster(p), knobs);
    expect(h.expect(conns).map(showOutcome), 'spec evaluator').toEqual(want);
    expect(h.send(conns).map(showOutcome), `${kind} dataplane`).toEqual(want);
  }
}

const DENIED = (dir: string, ...pols: string[]) => `dropped POLICY_DENIED [isolated ${dir} ${pols.join(',')}]`;
const app = (a: string) => sel({ app: a });

describe('NetworkPolicy', () => {
  it('allows everything when no policy selects a pod', async () => {
    await expectOutcomes(policies(), [[WEB, DB, 'TCP', 5432, 'allowed'], [EXT, DB, 'UDP', 53, 'allowed'], [DB, EXT, 'SCTP', 9, 'allowed']]);
  });

  it('isolates per direction: an ingress policy leaves egress open, an egress-only policy leaves ingress open', async () => {
    const p = policies([
      np('prod', 'db-in', { podSelector: app('db'), ingress: [rule([podPeer(app('web'))], [port('TCP', 5432)])] }),
      np('prod', 'web-out', { podSelector: app('web'), policyTypes: ['Egress'], egress: [rule([podPeer(app('db'))])] }),
    ]);
    await expectOutcomes(p, [
      [WEB, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/db-in ingress[0]]'],
      [API, DB, 'TCP', 5432, DENIED('ingress', 'prod/db-in')],
      [DB, EXT, 'TCP', 443, 'allowed'],                       // db is not isolated for egress
      [WEB, API, 'TCP', 80, DENIED('egress', 'prod/web-out')],
      [EXT, WEB, 'TCP', 8080, 'allowed'],                     // egress-only policy: web ingress stays open
    ]);
  });

  it('defaults policyTypes: Ingress always, Egress when egress rules exist; an explicit list wins', async () => {
    await expectOutcomes(policies([
      np('prod', 'implicit', { podSelector: app('web'), egress: [rule([podPeer(app('db'))])] }), // -> [Ingress, Egress]
      np('prod', 'explicit', { podSelector: app('api'), policyTypes: ['Egress'], ingress: [rule()], egress: [] }),
    ]), [
      [EXT, WEB, 'TCP', 8080, DENIED('ingress', 'prod/implicit')],
      [WEB, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/implicit egress[0]]'],
      [WEB, EXT, 'TCP', 443, DENIED('egress', 'prod/implicit')],
      [EXT, API, 'UDP', 8080, 'allowed'],                      // its allow-all ingress rule is ignored; ingress not isolated
      [API, EXT, 'UDP', 53, DENIED('egress', 'prod/explicit')], // egress isolated, no rule
    ]);
  });

  it('allows the union of every selecting policy\'s rules, in no order', async () => {
    await expectOutcomes(policies([
      np('prod', 'a-web', { podSelector: app('db'), ingress: [rule([podPeer(app('web'))])] }),
      np('prod', 'b-api', { podSelector: app('db'), ingress: [rule([podPeer(app('api'))])] }),
      np('prod', 'c-deny', { podSelector: app('db'), ingress: [] }),
    ]), [
      [WEB, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/a-web ingress[0]]'],
      [API, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/b-api ingress[0]]'],
      [TOOL, DB, 'TCP', 5432, DENIED('ingress', 'prod/a-web', 'prod/b-api', 'prod/c-deny')],
    ]);
  });

  it('podSelector alone means the policy\'s namespace; both selectors in one peer AND, two peers OR', async () => {
    await expectOutcomes(policies([
      np('prod', 'same-ns', { podSelector: app('db'), ingress: [rule([podPeer(app('web'))], [port('TCP', 1)])] }),
      np('prod', 'and', { podSelector: app('db'), ingress: [rule([podPeer(app('web'), sel({ env: 'prod' }))], [port('TCP', 2)])] }),
      np('prod', 'or', { podSelector: app('db'), ingress: [rule([podPeer(app('web')), podPeer(undefined, sel({ env: 'dev' }))], [port('TCP', 3)])] }),
    ]), [
      [WEB, DB, 'TCP', 1, 'allowed [NetworkPolicy prod/same-ns ingress[0]]'],
      [DEV_WEB, DB, 'TCP', 1, DENIED('ingress', 'prod/and', 'prod/or', 'prod/same-ns')],  // app=web, but in dev
      [WEB, DB, 'TCP', 2, 'allowed [NetworkPolicy prod/and ingress[0]]'],
      [DEV_WEB, DB, 'TCP', 2, DENIED('ingress', 'prod/and', 'prod/or', 'prod/same-ns')],  // AND: web AND env=prod
      [MON, DB, 'TCP', 2, DENIED('ingress', 'prod/and', 'prod/or', 'prod/same-ns')],      // env=prod but not web
      [WEB, DB, 'TCP', 3, 'allowed [NetworkPolicy prod/or ingress[0]]'],
      [TOOL, DB, 'TCP', 3, 'allowed [NetworkPolicy prod/or ingress[0]]'],                   // OR: any pod of dev
      [MON, DB, 'TCP', 3, DENIED('ingress', 'prod/and', 'prod/or', 'prod/same-ns')],
    ]);
  });

  it('namespaceSelector {} is every pod of every namespace, never an external address or a node', async () => {
    await expectOutcomes(policies([np('prod', 'all-pods', { podSelector: app('db'), ingress: [rule([podPeer(undefined, sel())])] })]), [
      [MON, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/all-pods ingress[0]]'],
      [TOOL, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/all-pods ingress[0]]'],
      [EXT, DB, 'TCP', 5432, DENIED('ingress', 'prod/all-pods')],
      [N1, DB, 'TCP', 5432, DENIED('ingress', 'prod/all-pods')], // another node (db runs on n2)
    ]);
  });

  it('matchExpressions: In, NotIn (true when the key is absent), Exists, DoesNotExist', async () => {
    const e = (key: string, operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', values: string[] = []) => sel({}, [{ key, operator, values }]);
    await expectOutcomes(policies([
      np('prod', 'in', { podSelector: app('db'), ingress: [rule([podPeer(e('app', 'In', ['web', 'api']))], [port('TCP', 1)])] }),
      np('prod', 'notin', { podSelector: app('db'), ingress: [rule([podPeer(e('tier', 'NotIn', ['be']), sel())], [port('TCP', 2)])] }),
      np('prod', 'exists', { podSelector: app('db'), ingress: [rule([podPeer(e('tier', 'Exists'), sel())], [port('TCP', 3)])] }),
      np('prod', 'dne', { podSelector: app('db'), ingress: [rule([podPeer(e('tier', 'DoesNotExist'), sel())], [port('TCP', 4)])] }),
    ]), [
      [API, DB, 'TCP', 1, 'allowed [NetworkPolicy prod/in ingress[0]]'],
      [WEB, DB, 'TCP', 2, 'allowed [NetworkPolicy prod/notin ingress[0]]'], // no tier label: NotIn holds
      [MON, DB, 'TCP', 2, 'allowed [NetworkPolicy prod/notin ingress[0]]'], // tier=x
      [API, DB, 'TCP', 2, DENIED('ingress', 'prod/dne', 'prod/exists', 'prod/in', 'prod/notin')], // tier=be
      [MON, DB, 'TCP', 3, 'allowed [NetworkPolicy prod/exists ingress[0]]'],
      [WEB, DB, 'TCP', 3, DENIED('ingress', 'prod/dne', 'prod/exists', 'prod/in', 'prod/notin')],
      [WEB, DB, 'TCP', 4, 'allowed [NetworkPolicy prod/dne ingress[0]]'],
      [API, DB, 'TCP', 4, DENIED('ingress', 'prod/dne', 'prod/exists', 'prod/in', 'prod/notin')],
    ]);
  });

  it('ipBlock except narrows only its own peer: a carve-out another rule allows is allowed', async () => {
    await expectOutcomes(policies([
      np('prod', 'cidr', { podSelector: app('db'), ingress: [rule([ipBlock('203.0.113.0/24', ['203.0.113.0/28'])])] }),
      np('prod', 'exact', { podSelector: app('db'), ingress: [rule([ipBlock('203.0.113.5/32')], [port('TCP', 5432)])] }),
    ]), [
      [EXT2, DB, 'TCP', 80, 'allowed [NetworkPolicy prod/cidr ingress[0]]'],
      [EXT, DB, 'TCP', 80, DENIED('ingress', 'prod/cidr', 'prod/exact')],        // inside the except
      [EXT, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/exact ingress[0]]'],   // carved out of one rule, allowed by another
      ['198.51.100.1', DB, 'TCP', 80, DENIED('ingress', 'prod/cidr', 'prod/exact')],
    ]);
  });

  it('ipBlock matches pod addresses when the knob says so (default: yes, as the e2e suite expects)', async () => {
    const p = policies([np('prod', 'pod-cidr', { podSelector: app('db'), ingress: [rule([ipBlock('10.0.1.0/24', ['10.0.1.12/32'])])] })]);
    await expectOutcomes(p, [
      [WEB, DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/pod-cidr ingress[0]]'],
      [TOOL, DB, 'TCP', 5432, DENIED('ingress', 'prod/pod-cidr')],  // excepted
      [N1, DB, 'TCP', 5432, DENIED('ingress', 'prod/pod-cidr')],
      ['10.0.1.77', DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/pod-cidr ingress[0]]'], // no pod has it
    ]);
    await expectOutcomes(p, [
      [WEB, DB, 'TCP', 5432, DENIED('ingress', 'prod/pod-cidr')],
      ['10.0.1.77', DB, 'TCP', 5432, 'allowed [NetworkPolicy prod/pod-cidr ingress[0]]'],
    ], { ipBlockMatchesPods: false });
  });

  it('masks host bits of a CIDR', async () => {
    await expectOutcomes(policies([np('prod', 'sloppy', { podSelector: app('db'), ingress: [rule([ipBlock('203.0.113.77/24')])] })]), [
      [EXT, DB, 'TCP', 80, 'allowed [NetworkPolicy prod/sloppy ingress[0]]'],
    ]);
  });

  it('ports: a protocol without a port is every port of it; no ports is every port and protocol; SCTP is not TCP', async () => {
    await expectOutcomes(policies([
      np('prod', 'udp', { podSelector: app('db'), ingress: [rule([podPeer(app('web'))], [port('UDP')])] }),
      np('prod', 'any', { podSelector: app('db'), ingress: [rule([podPeer(app('api'))])] }),
      np('prod', 'tcp80', { podSelector: app('db'), ingress: [rule([podPeer(sel({}, [{ key: 'app', operator: 'In', values: ['mon'] }]), sel())], [port('TCP', 80)])] }),
    ]), [
      [WEB, DB, 'UDP', 53, 'allowed [NetworkPolicy prod/udp ingress[0]]'],
      [WEB, DB, 'UDP', 65535, 'allowed [NetworkPolicy prod/udp ingress[0]]'],
      [WEB, DB, 'TCP', 53, DENIED('ingress', 'prod/any', 'prod/tcp80', 'prod/udp')],
      [API, DB, 'SCTP', 9999, 'allowed [NetworkPolicy prod/any ingress[0]]'],
      [API, DB, 'ICMP', 0, 'allowed [NetworkPolicy prod/any ingress[0]]'],
      [MON, DB, 'TCP', 80, 'allowed [NetworkPolicy prod/tcp80 ingress[0]]'],
      [MON, DB, 'SCTP', 80, DENIED('ingress', 'prod/any', 'prod/tcp80', 'prod/udp')],
      [MON, DB, 'UDP', 80, DENIED('ingress', 'prod/any', 'prod/tcp80', 'prod/udp')],
    ]);
  });

  it('endPort is an inclusive range', async () => {
    await expectOutcomes(policies([np('prod', 'range', { podSelector: app('db'), ingress: [rule([], [port('TCP', 1000, 2047)])] })]), [
      [WEB, DB, 'TCP', 999, DENIED('ingress', 'prod/range')],
      [WEB, DB, 'TCP', 1000, 'allowed [NetworkPolicy prod/range ingress[0]]'],
      [WEB, DB, 'TCP', 1500, 'allowed [NetworkPolicy prod/range ingress[0]]'],
      [WEB, DB, 'TCP', 2047, 'allowed [NetworkPolicy prod/range ingress[0]]'],
      [WEB, DB, 'TCP', 2048, DENIED('ingress', 'prod/range')],
    ]);
  });

  it('named ports resolve against each destination pod, protocol included', async () => {
    await expectOutcomes(policies([
      // ingress: "http" is TCP 8080 on web, UDP 8080 on api, and db has it as UDP only
      np('prod', 'http-in', { podSelector: sel({}, [{ key: 'app', operator: 'In', values: ['web', 'api'] }]), ingress: [rule([], [port('TCP', 'http')])] }),
      // egress: to any pod's TCP "http"
      np('dev', 'http-out', { podSelector: app('tool'), policyTypes: ['Egress'], egress: [rule([], [port('TCP', 'http')])] }),
    ]), [
      [TOOL, WEB, 'TCP', 8080, 'allowed [NetworkPolicy prod/http-in ingress[0]]'],
      [EXT, WEB, 'TCP', 8081, DENIED('ingress', 'prod/http-in')],
      [EXT, API, 'TCP', 8080, DENIED('ingress', 'prod/http-in')], // api's http is UDP: a TCP named port does not match
      [EXT, API, 'UDP', 8080, DENIED('ingress', 'prod/http-in')],
      [TOOL, DEV_WEB, 'TCP', 8080, 'allowed [NetworkPolicy dev/http-out egress[0]]'],
      [TOOL, DB, 'TCP', 8080, DENIED('egress', 'dev/http-out')],   // db's http is UDP
      [TOOL, EXT, 'TCP', 8080, DENIED('egress', 'dev/http-out')],  // no pod there: a named port matches nothing
    ]);
  });

  it('lets the pod\'s own node in, and (knob) out to it', async () => {
    const p = policies([np('prod', 'lock', { podSelector: app('db'), policyTypes: ['Ingress', 'Egress'] })]);
    await expectOutcomes(p, [
      [N2, DB, 'TCP', 5432, 'allowed'],
      [N1, DB, 'TCP', 5432, DENIED('ingress', 'prod/lock')],
      [DB, N2, 'TCP', 10250, DENIED('egress', 'prod/lock')],
      [DB, DB, 'TCP', 5432, 'allowed'],  // a pod to itself (allowSelf)
    ]);
    await expectOutcomes(p, [
      [DB, N2, 'TCP', 10250, 'allowed'],
      [DB, N1, 'TCP', 10250, DENIED('egress', 'prod/lock')],
      [DB, DB, 'TCP', 5432, DENIED('egress', 'prod/lock')],
    ], { allowEgressToOwnNode: true, allowSelf: false });
  });
});

describe('AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy', () => {
  const prodPods = podsSubject(sel({ env: 'prod' }), sel());
  it('the lowest priority number wins; within a policy the first matching rule', async () => {
    await expectOutcomes(policies([], [
      anp('late', 20, prodPods, { ingress: [aRule('allow-all', 'Allow', [{ kind: 'namespaces', namespaceSelector: sel() }])] }),
      anp('early', 10, nsSubject(sel({ env: 'prod' })), {
        ingress: [
          aRule('dev-db-ok', 'Allow', [{ kind: 'namespaces', namespaceSelector: sel({ env: 'dev' }) }], [port('TCP', 5432)]),
          aRule('no-dev', 'Deny', [{ kind: 'namespaces', namespaceSelector: sel({ env: 'dev' }) }]),
        ],
      }),
    ]), [
      [TOOL, DB, 'TCP', 5432, 'allowed [AdminNetworkPolicy early ingress rule "dev-db-ok"]'],
      [TOOL, DB, 'TCP', 80, 'dropped POLICY_DENY [AdminNetworkPolicy early ingress rule "no-dev"]'],
      [MON, DB, 'TCP', 80, 'allowed [AdminNetworkPolicy late ingress rule "allow-all"]'],
      [EXT, DB, 'TCP', 80, 'allowed'], // no admin rule matches, no NetworkPolicy: allowed
    ]);
  });

  it('an admin Deny wins over a NetworkPolicy allow, and Pass hands the decision to NetworkPolicy', async () => {
    await expectOutcomes(policies(
      [np('prod', 'db-from-dev', { podSelector: app('db'), ingress: [rule([podPeer(undefined, sel({ env: 'dev' }))])] })],
      [anp('guard', 5, prodPods, {
        ingress: [
          aRule('pass-web', 'Pass', [{ kind: 'pods', namespaceSelector: sel({ env: 'dev' }), podSelector: app('web') }]),
          aRule('', 'Deny', [{ kind: 'namespaces', namespaceSelector: sel({ env: 'dev' }) }]),
        ],
      })],
    ), [
      [DEV_WEB, DB, 'TCP', 80, 'allowed [NetworkPolicy prod/db-from-dev ingress[0]]'], // passed, then NP allows
      [TOOL, DB, 'TCP', 80, 'dropped POLICY_DENY [AdminNetworkPolicy guard ingress[1]]'],
      [DEV_WEB, WEB, 'TCP', 80, 'allowed'], // passed; web not isolated; no baseline
    ]);
  });

  it('the baseline applies only when nothing above decided', async () => {
    await expectOutcomes(policies(
      [np('prod', 'web-in', { podSelector: app('web'), ingress: [rule([podPeer(undefined, sel({ env: 'dev' }))])] })],
      [
        anp('pass-mon', 1, prodPods, { ingress: [aRule('mon', 'Pass', [{ kind: 'namespaces', namespaceSelector: sel({ team: 'ops' }) }])] }),
        banp(nsSubject(sel({ env: 'prod' })), { ingress: [
          aRule('ops-ok', 'Allow', [{ kind: 'namespaces', namespaceSelector: sel({ team: 'ops' }) }]),
          aRule('default-deny', 'Deny', [{ kind: 'namespaces', namespaceSelector: sel() }]),
        ] }),
      ],
    ), [
      [TOOL, DB, 'TCP', 80, 'dropped POLICY_DENY [BaselineAdminNetworkPolicy default ingress rule "default-deny"]'],
      [MON, DB, 'TCP', 80, 'allowed [BaselineAdminNetworkPolicy default ingress rule "ops-ok"]'], // passed, not isolated: baseline
      [MON, WEB, 'TCP', 80, DENIED('ingress', 'prod/web-in')],   // web is isolated: NetworkPolicy decides, baseline never applies
      [TOOL, WEB, 'TCP', 80, 'allowed [NetworkPolicy prod/web-in ingress[0]]'],
      [EXT, DB, 'TCP', 80, 'allowed'],                           // baseline peers are pods: externals fall through
    ]);
  });

  it('admin egress peers: nodes by label, networks (pods included)', async () => {
    await expectOutcomes(policies([], [anp('egress', 3, prodPods, { egress: [
      aRule('infra-nodes', 'Deny', [{ kind: 'nodes', nodeSelector: sel({ role: 'infra' }) }]),
      aRule('net', 'Deny', [{ kind: 'networks', cidrs: ['10.0.2.0/24'] }], [port('TCP', 5432)]),
    ] })]), [
      [WEB, N2, 'TCP', 22, 'dropped POLICY_DENY [AdminNetworkPolicy egress egress rule "infra-nodes"]'],
      [WEB, N1, 'TCP', 22, 'allowed'],
      [WEB, DB, 'TCP', 5432, 'dropped POLICY_DENY [AdminNetworkPolicy egress egress rule "net"]'],
      [WEB, DB, 'TCP', 80, 'allowed'],
    ]);
  });

  it('ClusterNetworkPolicy: Admin and Baseline tiers, Accept (Allow) / Deny / Pass', async () => {
    await expectOutcomes(policies([], [
      cnp('admin-pass', 'Admin', 1, prodPods, { ingress: [aRule('web', 'Pass', [{ kind: 'pods', namespaceSelector: sel(), podSelector: app('web') }])] }),
      cnp('admin-accept', 'Admin', 2, prodPods, { ingress: [aRule('dev', 'Allow', [{ kind: 'namespaces', namespaceSelector: sel({ env: 'dev' }) }])] }),
      cnp('base', 'Baseline', 0, prodPods, { ingress: [aRule('all', 'Deny', [{ kind: 'namespaces', namespaceSelector: sel() }])] }),
    ]), [
      [TOOL, DB, 'TCP', 80, 'allowed [ClusterNetworkPolicy admin-accept ingress rule "dev"]'],
      [DEV_WEB, DB, 'TCP', 80, 'dropped POLICY_DENY [ClusterNetworkPolicy base ingress rule "all"]'], // passed down to the baseline
      [MON, DB, 'TCP', 80, 'dropped POLICY_DENY [ClusterNetworkPolicy base ingress rule "all"]'],
    ]);
  });

  it('named ports of the admin kinds match the container port of that name, whatever its protocol', async () => {
    await expectOutcomes(policies([], [anp('named', 1, prodPods, { ingress: [
      aRule('http', 'Deny', [{ kind: 'namespaces', namespaceSelector: sel() }], [{ protocol: 'TCP', port: 'http', anyProtocol: true }]),
    ] })]), [
      [TOOL, WEB, 'TCP', 8080, 'dropped POLICY_DENY [AdminNetworkPolicy named ingress rule "http"]'],
      [TOOL, API, 'UDP', 8080, 'dropped POLICY_DENY [AdminNetworkPolicy named ingress rule "http"]'],
      [TOOL, API, 'TCP', 8080, 'allowed'],
    ]);
  });
});
