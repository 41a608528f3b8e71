// Parsing, validation and defaulting of the policy kinds into the normalized
// policy model (src/policy/model.ts):
//
// - NetworkPolicy networking.k8s.io/v1: validation follows
//   pkg/apis/networking/validation (ValidateNetworkPolicySpec,
//   ValidateNetworkPolicyPort, ValidateNetworkPolicyPeer, ValidateIPBlock),
//   defaulting pkg/apis/networking/v1/defaults.go (SetDefaults_NetworkPolicy,
//   SetDefaults_NetworkPolicyPort).
// - AdminNetworkPolicy and BaselineAdminNetworkPolicy
//   policy.networking.k8s.io/v1alpha1, ClusterNetworkPolicy v1alpha2: the
//   OpenAPI/CEL rules of the CRDs in sigs.k8s.io/network-policy-api
//   (config/crd/experimental, apis/v1alpha1, apis/v1alpha2).
//
// dpemu is IPv4-only: IPv6 CIDRs are dropped with a warning. Dropping must
// never widen a rule: a peer list left empty by the drop would read as "every
// peer" (NetworkPolicy), so the whole rule is dropped instead, which is what
// the rule means for IPv4 traffic (it matches none of it).

import type {
  AdminAction, AdminPeer, AdminPolicy, AdminRule, AdminSubject, LabelSelector, NetworkPolicy, NetworkPolicyPeer,
  NetworkPolicyRule, PortClause,
} from '../policy/model.js';
import { CIDR, Protocol } from './model.js';
import { ParseContext, parseLabelSelector, parseMeta } from './parse.js';
import {
  Obj, Reader, checkCIDR, checkIP, cidrRange, dns1123SubdomainError, isObj, portNameError, show,
} from './validate.js';

/** Selectors in policies: {} selects everything. */
const selector = (r: Reader, v: unknown, path: string): LabelSelector => parseLabelSelector(r, v, path, { allowEmpty: true });

const present = (v: unknown) => v !== undefined && v !== null;

/**
 * A required CIDR: the canonical IPv4 CIDR or 'ipv6'. Host bits are cleared
 * with a warning (the API server accepts such "legacy" CIDRs and warns).
 */
function readCIDR(r: Reader, pc: ParseContext, v: unknown, path: string): CIDR | 'ipv6' {
  const s = r.str(v, path);
  if (s === undefined || s === '') r.fail(path, 'required');
  const c = checkCIDR(s);
  if (typeof c === 'object') r.fail(path, `${c.error}, got ${show(s)}`);
  if (c === 'ipv6') return c;
  const [addr, len] = s.trim().split('/');
  const written = `${checkIP(addr) as string}/${Number(len)}`;
  if (written !== c) pc.warn(r, 'cidr-host-bits', path, `${show(s)} has host bits set; read as ${c}`);
  return c;
}

/** a strictly inside b (ValidateIPBlock: "must be a strict subset of `cidr`"). */
function strictSubset(a: CIDR, b: CIDR): boolean {
  const x = cidrRange(a), y = cidrRange(b);
  return x.plen > y.plen && x.base >= y.base && x.base < y.base + y.size;
}

function cmpCIDR(a: CIDR, b: CIDR): number {
  const x = cidrRange(a), y = cidrRange(b);
  return x.base - y.base || x.plen - y.plen;
}

/** Warn about a field that belongs to the other direction (it would be ignored, widening the rule). */
function wrongDirection(r: Reader, pc: ParseContext, o: Obj, path: string, field: string, right: string) {
  if (o[field] !== undefined) {
    pc.warn(r, 'unknown-field', `${path}.${field}`, `unknown field (ignored, as the API server prunes it); did you mean ${right}?`);
  }
}

// ---------------------------------------------------------------- NetworkPolicy

function parseNetworkPolicyPort(r: Reader, v: unknown, path: string): PortClause {
  // A null list item decodes to the zero struct: protocol TCP, every port.
  const o = r.obj(v, path) ?? {};
  const protocol = r.protocol(o.protocol, `${path}.protocol`);
  const out: PortClause = { protocol };
  const p = o.port;
  if (typeof p === 'number') {
    out.port = r.reqInt(p, `${path}.port`, 1, 65535);
  } else if (typeof p === 'string') {
    r.nameCheck(p, `${path}.port`, portNameError);
    out.port = p;
  } else if (present(p)) {
    r.fail(`${path}.port`, `must be a port number or a port name, got ${show(p)}`);
  }
  const endPort = r.int(o.endPort, `${path}.endPort`, 1, 65535);
  if (endPort !== undefined) {
    if (out.port === undefined) r.fail(`${path}.endPort`, 'may not be specified when `port` is not specified');
    if (typeof out.port === 'string') r.fail(`${path}.endPort`, 'may not be specified when `port` is non-numeric');
    if (endPort < out.port) r.fail(`${path}.endPort`, `must be greater than or equal to \`port\` (${out.port}), got ${endPort}`);
    // Canonical: a one-port range is the port itself.
    if (endPort > out.port) out.endPort = endPort;
  }
  return out;
}

function parseNetworkPolicyPeer(r: Reader, pc: ParseContext, v: unknown, path: string): NetworkPolicyPeer | 'ipv6' {
  const o = r.obj(v, path) ?? {};
  const hasPod = present(o.podSelector), hasNs = present(o.namespaceSelector), hasIP = present(o.ipBlock);
  if (!hasPod && !hasNs && !hasIP) r.fail(path, 'must specify a peer (podSelector, namespaceSelector and/or ipBlock)');
  if (hasIP && (hasPod || hasNs)) r.fail(path, 'may not specify both ipBlock and another peer');
  if (!hasIP) {
    const peer: NetworkPolicyPeer = { kind: 'selector' };
    if (hasPod) peer.podSelector = selector(r, o.podSelector, `${path}.podSelector`);
    if (hasNs) peer.namespaceSelector = selector(r, o.namespaceSelector, `${path}.namespaceSelector`);
    return peer;
  }
  const bp = `${path}.ipBlock`;
  const b = r.reqObj(o.ipBlock, bp);
  const cidr = readCIDR(r, pc, b.cidr, `${bp}.cidr`);
  const except: CIDR[] = [];
  r.arr(b.except, `${bp}.except`).forEach((e, i) => {
    const ep = `${bp}.except[${i}]`;
    const c = readCIDR(r, pc, e, ep);
    if (cidr === 'ipv6') return; // the whole peer goes; its excepts only need to be well-formed
    if (c === 'ipv6' || !strictSubset(c, cidr)) r.fail(ep, `must be a strict subset of \`cidr\` (${cidr}), got ${show(e)}`);
    if (!except.includes(c)) except.push(c);
  });
  if (cidr === 'ipv6') return 'ipv6';
  return { kind: 'ipBlock', cidr, except: except.sort(cmpCIDR) };
}

function parseNetworkPolicyRule(
  r: Reader, pc: ParseContext, v: unknown, path: string, dir: 'ingress' | 'egress',
): NetworkPolicyRule | undefined {
  const o = r.obj(v, path) ?? {};
  const field = dir === 'ingress' ? 'from' : 'to';
  wrongDirection(r, pc, o, path, dir === 'ingress' ? 'to' : 'from', `\`${field}\` (an ${dir} rule's peers)`);
  const ports = r.arr(o.ports, `${path}.ports`).map((p, i) => parseNetworkPolicyPort(r, p, `${path}.ports[${i}]`));
  const raw = r.arr(o[field], `${path}.${field}`);
  const peers: NetworkPolicyPeer[] = [];
  raw.forEach((p, i) => {
    const peer = parseNetworkPolicyPeer(r, pc, p, `${path}.${field}[${i}]`);
    if (peer === 'ipv6') pc.warn(r, 'ipv6-ignored', `${path}.${field}[${i}].ipBlock`, 'IPv6 ipBlock dropped (dpemu is IPv4-only)');
    else peers.push(peer);
  });
  if (raw.length > 0 && peers.length === 0) {
    // An empty peer list means "every peer": dropping the only (IPv6) peers must not widen the rule.
    pc.warn(r, 'ipv6-rule-dropped', path, `every peer of this rule is IPv6: the rule matches no IPv4 traffic and is dropped`);
    return undefined;
  }
  return { peers, ports };
}

export function parseNetworkPolicy(r: Reader, o: Obj, pc: ParseContext): NetworkPolicy {
  const m = parseMeta(r, o, true, dns1123SubdomainError);
  const spec = r.reqObj(o.spec, 'spec');
  // NetworkPolicySpec.podSelector: "This field is optional. If it is not specified, it defaults to an
  // empty selector" (every pod of the namespace).
  const podSelector = selector(r, present(spec.podSelector) ? spec.podSelector : {}, 'spec.podSelector');
  const rules = (dir: 'ingress' | 'egress') => r.arr(spec[dir], `spec.${dir}`)
    .map((v, i) => parseNetworkPolicyRule(r, pc, v, `spec.${dir}[${i}]`, dir))
    .filter((x): x is NetworkPolicyRule => x !== undefined);
  const ingressRaw = r.arr(spec.ingress, 'spec.ingress');
  const egressRaw = r.arr(spec.egress, 'spec.egress');
  const ingress = rules('ingress');
  const egress = rules('egress');

  // policyTypes: validated as written (at most two, each Ingress or Egress; repeats are accepted by
  // the API and collapse here), then defaulted by SetDefaults_NetworkPolicy: Ingress, plus Egress
  // when the egress list (as written) is non-empty.
  const typesRaw = r.arr(spec.policyTypes, 'spec.policyTypes');
  if (typesRaw.length > 2) r.fail('spec.policyTypes', `may not specify more than two policyTypes, got ${typesRaw.length}`);
  const written = new Set(typesRaw.map((t, i) => {
    const v = r.oneOf(t, `spec.policyTypes[${i}]`, ['Ingress', 'Egress'] as const);
    if (!v) r.fail(`spec.policyTypes[${i}]`, 'must be "Ingress" or "Egress"');
    return v;
  }));
  if (typesRaw.length === 0) {
    written.add('Ingress');
    if (egressRaw.length > 0) written.add('Egress');
  }
  const policyTypes = (['Ingress', 'Egress'] as const).filter((t) => written.has(t));
  if (!written.has('Ingress') && ingressRaw.length > 0) {
    pc.warn(r, 'ignored-rules', 'spec.ingress', 'policyTypes does not include Ingress: these ingress rules have no effect');
  }
  if (!written.has('Egress') && egressRaw.length > 0) {
    pc.warn(r, 'ignored-rules', 'spec.egress', 'policyTypes does not include Egress: these egress rules have no effect');
  }
  return {
    namespace: m.namespace!, name: m.name, podSelector, policyTypes: [...policyTypes], ingress, egress, source: r.ctx.source,
  };
}

// ---------------------------------------------------------------- admin tiers

type AdminKind = AdminPolicy['kind'];

/** What differs between the three admin kinds. */
interface Flavor {
  kind: AdminKind;
  /** Written action -> model action. */
  actions: Record<string, AdminAction>;
  maxRules: number;
  maxPeers: number;
  /** v1alpha2 NamespacedPod: namespaceSelector optional ({} when absent). */
  namespaceSelectorOptional: boolean;
  /** 'ports' (v1alpha1 AdminNetworkPolicyPort) or 'protocols' (v1alpha2 ClusterNetworkPolicyProtocol). */
  portsField: 'ports' | 'protocols';
}

const ANP: Flavor = {
  kind: 'AdminNetworkPolicy', actions: { Allow: 'Allow', Deny: 'Deny', Pass: 'Pass' }, maxRules: 100, maxPeers: 100,
  namespaceSelectorOptional: false, portsField: 'ports',
};
const BANP: Flavor = {
  kind: 'BaselineAdminNetworkPolicy', actions: { Allow: 'Allow', Deny: 'Deny' }, maxRules: 100, maxPeers: 100,
  namespaceSelectorOptional: false, portsField: 'ports',
};
const CNP_ADMIN: Flavor = {
  kind: 'ClusterNetworkPolicy', actions: { Accept: 'Allow', Deny: 'Deny', Pass: 'Pass' }, maxRules: 25, maxPeers: 25,
  namespaceSelectorOptional: true, portsField: 'protocols',
};
const CNP_BASELINE: Flavor = { ...CNP_ADMIN, actions: { Accept: 'Allow', Deny: 'Deny' } };

/** Exactly one of `fields` set (MinProperties=1, MaxProperties=1). */
function oneField(r: Reader, o: Obj, path: string, fields: readonly string[]): string {
  const set = fields.filter((f) => present(o[f]));
  if (set.length !== 1) {
    const others = Object.keys(o).filter((k) => !fields.includes(k));
    r.fail(path, `must set exactly one of ${fields.join(', ')}, got ${set.length ? set.join(' and ') : 'none'}${others.length ? ` (unknown: ${others.join(', ')})` : ''}`);
  }
  return set[0];
}

function namespacedPod(r: Reader, f: Flavor, v: unknown, path: string): { namespaceSelector: LabelSelector; podSelector: LabelSelector } {
  const o = r.reqObj(v, path);
  let namespaceSelector: LabelSelector;
  if (!present(o.namespaceSelector) && f.namespaceSelectorOptional) namespaceSelector = { matchLabels: {}, matchExpressions: [] };
  else if (!present(o.namespaceSelector)) r.fail(`${path}.namespaceSelector`, 'required (use {} for every namespace)');
  else namespaceSelector = selector(r, o.namespaceSelector, `${path}.namespaceSelector`);
  if (!present(o.podSelector)) r.fail(`${path}.podSelector`, 'required (use {} for every pod)');
  return { namespaceSelector, podSelector: selector(r, o.podSelector, `${path}.podSelector`) };
}

function parseSubject(r: Reader, f: Flavor, v: unknown): AdminSubject {
  const path = 'spec.subject';
  const o = r.reqObj(v, path);
  const which = oneField(r, o, path, ['namespaces', 'pods']);
  if (which === 'namespaces') return { kind: 'namespaces', namespaceSelector: selector(r, o.namespaces, `${path}.namespaces`) };
  return { kind: 'pods', ...namespacedPod(r, f, o.pods, `${path}.pods`) };
}

/** DomainName pattern of v1alpha2 (a wildcard '*.' only as a prefix). */
const DOMAIN_NAME = /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;

/** One peer; undefined when dpemu cannot represent it (IPv6-only networks, domain names): dropped with a warning. */
function parseAdminPeer(
  r: Reader, pc: ParseContext, f: Flavor, v: unknown, path: string, dir: 'ingress' | 'egress', action: AdminAction,
): AdminPeer | undefined {
  const o = r.reqObj(v, path);
  const fields = dir === 'ingress' ? ['namespaces', 'pods']
    : f.kind === 'ClusterNetworkPolicy' ? ['namespaces', 'pods', 'nodes', 'networks', 'domainNames'] : ['namespaces', 'pods', 'nodes', 'networks'];
  const which = oneField(r, o, path, fields);
  switch (which) {
    case 'namespaces': return { kind: 'namespaces', namespaceSelector: selector(r, o.namespaces, `${path}.namespaces`) };
    case 'pods': return { kind: 'pods', ...namespacedPod(r, f, o.pods, `${path}.pods`) };
    case 'nodes': return { kind: 'nodes', nodeSelector: selector(r, o.nodes, `${path}.nodes`) };
    case 'networks': {
      const raw = r.arr(o.networks, `${path}.networks`);
      if (raw.length < 1 || raw.length > 25) r.fail(`${path}.networks`, `must hold 1..25 CIDRs, got ${raw.length}`);
      const cidrs: CIDR[] = [];
      let v6 = 0;
      raw.forEach((c, i) => {
        const p = `${path}.networks[${i}]`;
        // CRD rule: self.contains(':') != self.contains('.') (no IPv4-embedded IPv6).
        if (typeof c === 'string' && c.includes(':') && c.includes('.')) r.fail(p, `CIDR must be either an IPv4 or IPv6 address. IPv4 address embedded in IPv6 addresses are not supported, got ${show(c)}`);
        const x = readCIDR(r, pc, c, p);
        if (x === 'ipv6') v6++;
        else if (!cidrs.includes(x)) cidrs.push(x);
      });
      if (v6) pc.warn(r, 'ipv6-ignored', `${path}.networks`, `${v6} IPv6 CIDR(s) dropped (dpemu is IPv4-only)`);
      if (cidrs.length === 0) return undefined;
      return { kind: 'networks', cidrs: cidrs.sort(cmpCIDR) };
    }
    default: { // domainNames (ClusterNetworkPolicy egress)
      const raw = r.arr(o.domainNames, `${path}.domainNames`);
      if (raw.length < 1 || raw.length > 25) r.fail(`${path}.domainNames`, `must hold 1..25 domain names, got ${raw.length}`);
      raw.forEach((d, i) => {
        const s = r.reqStr(d, `${path}.domainNames[${i}]`);
        if (!DOMAIN_NAME.test(s)) r.fail(`${path}.domainNames[${i}]`, `must be a domain name, optionally with a leading "*." wildcard, got ${show(s)}`);
      });
      if (action !== 'Allow') r.fail(`${path}.domainNames`, 'is only supported in Accept rules');
      pc.warn(r, 'domain-names-unsupported', `${path}.domainNames`, 'domain-name peers are not supported by dpemu (no DNS-aware proxy): peer dropped, so this Accept matches less');
      return undefined;
    }
  }
}

function parsePortRange(r: Reader, v: unknown, path: string, startField: string, endField: string): { start: number; end: number } {
  const o = r.reqObj(v, path);
  const start = r.reqInt(o[startField], `${path}.${startField}`, 1, 65535);
  const end = r.reqInt(o[endField], `${path}.${endField}`, 1, 65535);
  if (start >= end) r.fail(path, `Start port must be less than End port, got ${start}..${end}`);
  return { start, end };
}

function namedPortCheck(r: Reader, pc: ParseContext, name: string, path: string) {
  // The CRDs accept any string, but a container port name is always an IANA_SVC_NAME.
  const e = portNameError(name);
  if (e) pc.warn(r, 'named-port-never-matches', path, `${show(name)} can never name a container port (${e})`);
}

/** v1alpha1 AdminNetworkPolicyPort: exactly one of portNumber, namedPort, portRange. */
function parseAnpPort(r: Reader, pc: ParseContext, v: unknown, path: string): PortClause {
  const o = r.reqObj(v, path);
  const which = oneField(r, o, path, ['portNumber', 'namedPort', 'portRange']);
  if (which === 'portNumber') {
    const p = r.reqObj(o.portNumber, `${path}.portNumber`);
    return { protocol: r.protocol(p.protocol, `${path}.portNumber.protocol`), port: r.reqInt(p.port, `${path}.portNumber.port`, 1, 65535) };
  }
  if (which === 'portRange') {
    const pr = r.reqObj(o.portRange, `${path}.portRange`);
    const protocol = r.protocol(pr.protocol, `${path}.portRange.protocol`);
    const { start, end } = parsePortRange(r, pr, `${path}.portRange`, 'start', 'end');
    return { protocol, port: start, endPort: end };
  }
  const name = r.reqStr(o.namedPort, `${path}.namedPort`);
  namedPortCheck(r, pc, name, `${path}.namedPort`);
  return { protocol: 'TCP', port: name, anyProtocol: true };
}

/** v1alpha2 ClusterNetworkPolicyProtocol: exactly one of tcp, udp, sctp (with destinationPort) or destinationNamedPort. */
function parseCnpProtocol(r: Reader, pc: ParseContext, v: unknown, path: string): PortClause {
  const o = r.reqObj(v, path);
  const which = oneField(r, o, path, ['tcp', 'udp', 'sctp', 'destinationNamedPort']);
  if (which === 'destinationNamedPort') {
    const name = r.reqStr(o.destinationNamedPort, `${path}.destinationNamedPort`);
    namedPortCheck(r, pc, name, `${path}.destinationNamedPort`);
    return { protocol: 'TCP', port: name, anyProtocol: true };
  }
  const protocol = which.toUpperCase() as Protocol;
  const t = r.reqObj(o[which], `${path}.${which}`);
  // ClusterNetworkPolicyProtocolTCP/UDP/SCTP: MinProperties=1, so destinationPort must be given.
  const dp = `${path}.${which}.destinationPort`;
  if (!present(t.destinationPort)) r.fail(dp, 'required (a number or a range)');
  const d = r.reqObj(t.destinationPort, dp);
  const kind = oneField(r, d, dp, ['number', 'range']);
  if (kind === 'number') return { protocol, port: r.reqInt(d.number, `${dp}.number`, 1, 65535) };
  const { start, end } = parsePortRange(r, d.range, `${dp}.range`, 'start', 'end');
  return { protocol, port: start, endPort: end };
}

function parseAdminRule(
  r: Reader, pc: ParseContext, f: Flavor, tier: 'Admin' | 'Baseline', v: unknown, path: string, dir: 'ingress' | 'egress',
): AdminRule | undefined {
  const o = r.reqObj(v, path);
  const name = r.str(o.name, `${path}.name`) ?? '';
  if (name.length > 100) r.fail(`${path}.name`, `may be at most 100 characters, got ${name.length}`);
  const written = r.str(o.action, `${path}.action`);
  if (!written) r.fail(`${path}.action`, `required (${Object.keys(f.actions).join(', ')})`);
  const action = f.actions[written];
  if (!action) {
    const why = written === 'Pass' && tier === 'Baseline' ? ' (Pass is not allowed in the Baseline tier: there is no lower tier to pass to)'
      : written === 'Allow' && f.kind === 'ClusterNetworkPolicy' ? ' (ClusterNetworkPolicy calls it Accept)'
        : written === 'Accept' && f.kind !== 'ClusterNetworkPolicy' ? ` (${f.kind} calls it Allow)` : '';
    r.fail(`${path}.action`, `must be one of ${Object.keys(f.actions).map((a) => JSON.stringify(a)).join(', ')}, got ${show(written)}${why}`);
  }
  const field = dir === 'ingress' ? 'from' : 'to';
  wrongDirection(r, pc, o, path, dir === 'ingress' ? 'to' : 'from', `\`${field}\``);
  const other = f.portsField === 'ports' ? 'protocols' : 'ports';
  if (o[other] !== undefined) {
    pc.warn(r, 'unknown-field', `${path}.${other}`, `unknown field for ${f.kind} (ignored, so the rule matches every port); did you mean \`${f.portsField}\`?`);
  }
  const raw = r.arr(o[field], `${path}.${field}`);
  if (raw.length < 1) r.fail(`${path}.${field}`, 'required (at least one peer)');
  if (raw.length > f.maxPeers) r.fail(`${path}.${field}`, `may hold at most ${f.maxPeers} peers, got ${raw.length}`);
  const peers = raw.map((p, i) => parseAdminPeer(r, pc, f, p, `${path}.${field}[${i}]`, dir, action))
    .filter((p): p is AdminPeer => p !== undefined);

  let ports: PortClause[] | undefined;
  const portsPath = `${path}.${f.portsField}`;
  const rawPorts = r.arr(o[f.portsField], portsPath);
  if (rawPorts.length > (f.portsField === 'ports' ? 100 : 25)) r.fail(portsPath, `may hold at most ${f.portsField === 'ports' ? 100 : 25} entries, got ${rawPorts.length}`);
  if (f.portsField === 'protocols' && Array.isArray(o.protocols) && rawPorts.length === 0) r.fail(portsPath, 'must hold at least one entry (leave it out to match every port)');
  // v1alpha1: an absent or empty ports list does not filter by port.
  if (rawPorts.length) {
    ports = rawPorts.map((p, i) => (f.portsField === 'ports' ? parseAnpPort : parseCnpProtocol)(r, pc, p, `${portsPath}[${i}]`));
  }
  if (dir === 'egress' && ports?.some((p) => p.anyProtocol)) {
    const bad = raw.findIndex((p) => isObj(p) && (present(p.networks) || present(p.nodes) || present(p.domainNames)));
    if (bad >= 0) r.fail(`${path}.${field}[${bad}]`, 'networks/nodes/domainNames peer cannot be set with named ports since there are no named ports for networks/nodes/domainNames');
  }
  if (peers.length === 0) {
    pc.warn(r, 'ipv6-rule-dropped', path, 'no peer of this rule is representable in dpemu (IPv6 networks, domain names): the rule matches no IPv4 traffic and is dropped');
    return undefined;
  }
  const rule: AdminRule = { name, action, peers };
  if (ports) rule.ports = ports;
  return rule;
}

function parseAdmin(r: Reader, pc: ParseContext, f: Flavor, tier: 'Admin' | 'Baseline', priority: number, spec: Obj): AdminPolicy {
  const subject = parseSubject(r, f, spec.subject);
  const rules = (dir: 'ingress' | 'egress') => {
    const raw = r.arr(spec[dir], `spec.${dir}`);
    if (raw.length > f.maxRules) r.fail(`spec.${dir}`, `may hold at most ${f.maxRules} rules, got ${raw.length}`);
    return raw.map((v, i) => parseAdminRule(r, pc, f, tier, v, `spec.${dir}[${i}]`, dir)).filter((x): x is AdminRule => x !== undefined);
  };
  return {
    kind: f.kind, name: r.ctx.name!, tier, priority, subject, ingress: rules('ingress'), egress: rules('egress'), source: r.ctx.source,
  };
}

export function parseAdminNetworkPolicy(r: Reader, o: Obj, pc: ParseContext): AdminPolicy {
  parseMeta(r, o, false, dns1123SubdomainError);
  const spec = r.reqObj(o.spec, 'spec');
  const priority = r.reqInt(spec.priority, 'spec.priority', 0, 1000);
  return parseAdmin(r, pc, ANP, 'Admin', priority, spec);
}

export function parseBaselineAdminNetworkPolicy(r: Reader, o: Obj, pc: ParseContext): AdminPolicy {
  const m = parseMeta(r, o, false, dns1123SubdomainError);
  // CRD rule: self.metadata.name == 'default'.
  if (m.name !== 'default') r.fail('metadata.name', `must be "default": only one BaselineAdminNetworkPolicy, named "default", can exist in a cluster; got ${show(m.name)}`);
  const spec = r.reqObj(o.spec, 'spec');
  return parseAdmin(r, pc, BANP, 'Baseline', 0, spec);
}

export function parseClusterNetworkPolicy(r: Reader, o: Obj, pc: ParseContext): AdminPolicy {
  parseMeta(r, o, false, dns1123SubdomainError);
  const spec = r.reqObj(o.spec, 'spec');
  const tier = r.oneOf(spec.tier, 'spec.tier', ['Admin', 'Baseline'] as const);
  if (!tier) r.fail('spec.tier', 'required ("Admin" or "Baseline")');
  const priority = r.reqInt(spec.priority, 'spec.priority', 0, 1000);
  return parseAdmin(r, pc, tier === 'Admin' ? CNP_ADMIN : CNP_BASELINE, tier, priority, spec);
}

// ---------------------------------------------------------------- ordering

const KIND_ORDER: Record<AdminKind, number> = { AdminNetworkPolicy: 0, BaselineAdminNetworkPolicy: 1, ClusterNetworkPolicy: 2 };

/** The model's order: tier Admin first, then priority (lower first), kind, name. */
export function compareAdminPolicies(a: AdminPolicy, b: AdminPolicy): number {
  if (a.tier !== b.tier) return a.tier === 'Admin' ? -1 : 1;
  return a.priority - b.priority || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Sorts in place and warns once per group of policies of one tier sharing a
 * priority: the API leaves the order of their overlapping rules undefined.
 */
export function sortAdminPolicies(policies: AdminPolicy[], pc: ParseContext): void {
  policies.sort(compareAdminPolicies);
  for (let i = 0; i < policies.length;) {
    let j = i + 1;
    while (j < policies.length && policies[j].tier === policies[i].tier && policies[j].priority === policies[i].priority) j++;
    if (j - i > 1) {
      const group = policies.slice(i, j);
      const first = group[0];
      const r = new Reader({ source: first.source!, kind: first.kind, name: first.name });
      pc.warn(r, 'admin-priority-tie', 'spec.priority',
        `${group.length} policies of the ${first.tier} tier share priority ${first.priority} (${group.map((p) => `${p.kind} ${p.name}`).join(', ')}): ` +
        'where their rules overlap the API leaves the outcome undefined; dpemu evaluates them in this order (kind, then name). Give each policy its own priority.');
    }
    i = j;
  }
}
