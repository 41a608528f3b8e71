// The traffic spec of `dpemu run` (YAML or JSON): who talks to whom, how often, for how long, and what
// changes in the cluster meanwhile. Read once, checked field by field (an InputError names the field, e.g.
// `traffic[2].rate`), and turned into plain numbers the generator runs on.
//
//   duration: 5                 # virtual seconds of traffic (default 5)
//   seed: 1                     # seed of every random choice of the run (default 1)
//   clients:                    # named groups of clients
//     web:      {pods: deploy/shop/frontend}          # pods of a workload, or pod/ns/name, or
//     app:      {selector: app=api, namespace: shop}  # pods by label selector
//     internet: {external: 203.0.113.0/24, count: 20} # addresses outside the cluster, entering on nodes
//   traffic:
//     - from: web
//       to: checkout:8080       # a DNS name (resolved by the client's resolver through the cluster DNS),
//                               # svc/ns/name:port, pod/ns/name:port, deploy/ns/name:port or ip:port; a list
//                               # spreads connections over several targets by `popularity`
//       proto: TCP              # TCP (full lifecycle), UDP (request/reply exchanges), SCTP
//       rate: 100               # new connections per second (Poisson arrivals), or
//       connections: 500        # that many, spread over the duration
//       requests: 3             # request/response exchanges per connection (default 1)
//       size: [200, 1500]       # request and response bytes (default 100, 1000)
//       lifetime: 0.05          # seconds from the first packet to the last (default 0.02)
//       close: fin              # fin (default) or rst; rstRatio: 0.1 closes that share with RST
//       retransmit: 0.01        # share of client data packets sent twice (a retransmission)
//       popularity: uniform     # over the targets: uniform, or {zipf: 1.1}
//       via: loadBalancer       # external clients: loadBalancer (default when the Service has one),
//                               # nodePort, externalIP or clusterIP
//   churn:
//     - {at: 2, scale: deploy/shop/api, replicas: 1}          # a workload scaled
//     - {at: 3, restart: pod/shop/api-0, for: 1}              # a pod not ready for a while
//     - {at: 4, apply: extra.yaml} / {at: 4, delete: {kind, namespace, name}}

import { parse as parseYaml } from 'yaml';
import { InputError } from '../errors.js';
import { showValue } from '../packet.js';
import { parseHttpField } from '../gateway/trace-hook.js';

export type Popularity = { kind: 'uniform' } | { kind: 'zipf'; s: number };
export type Via = 'loadBalancer' | 'nodePort' | 'externalIP' | 'clusterIP';

export type ClientGroup =
  | { name: string; kind: 'pods'; ref: string }
  | { name: string; kind: 'selector'; namespace?: string; labels: Record<string, string> }
  | { name: string; kind: 'external'; cidr: string; count: number; node?: string };

export interface TrafficEntry {
  /** Index in the spec's list (records and reports name entries by it). */
  index: number;
  from: string;
  to: string[];
  proto: 'TCP' | 'UDP' | 'SCTP';
  /** New connections per second. */
  rate: number;
  requests: number;
  requestBytes: number;
  responseBytes: number;
  lifetime: number;
  rstRatio: number;
  retransmit: number;
  popularity: Popularity;
  via?: Via;
  /**
   * An HTTP request each connection makes to a Gateway listener or an Ingress address (`to` is that address,
   * `ip:port` or `gateway/ns/name:port`): routed by its rules first, then sent to the Service they choose.
   */
  http?: { method?: string; host?: string; path?: string; headers?: Record<string, string> };
}

export type ChurnEvent =
  | { at: number; kind: 'scale'; ref: string; replicas: number }
  | { at: number; kind: 'restart'; ref: string; for: number }
  | { at: number; kind: 'apply'; paths: string[] }
  | { at: number; kind: 'delete'; targets: ({ kind: string; namespace?: string; name: string } | string)[] }
  /** A node fails (Emulator.failNode) and, with `for`, restarts that many seconds later. */
  | { at: number; kind: 'fail'; node: string; for?: number };

export interface TrafficSpec {
  duration: number;
  seed: number;
  clients: ClientGroup[];
  traffic: TrafficEntry[];
  churn: ChurnEvent[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(path: string, msg: string): never {
  throw new InputError(`traffic spec: ${path}: ${msg}`, path);
}

function known(o: Obj, path: string, keys: readonly string[]) {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(path ? `${path}.${k}` : k, `unknown field (known: ${keys.join(', ')})`);
}

/** Seconds from a number or a string with a unit (500ms, 2s, 1m). */
function seconds(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(v);
    if (m) return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
  }
  return fail(path, `${showValue(v)} is not a duration (seconds, or "500ms", "2s", "1m")`);
}

function num(v: unknown, path: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    fail(path, `${showValue(v)} is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
  }
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.trim() === '') fail(path, `${showValue(v)} is not a non-empty string`);
  return v.trim();
}

function parseSelector(v: unknown, path: string): Record<string, string> {
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, str(x, `${path}.${k}`)]));
  const out: Record<string, string> = {};
  for (const part of str(v, path).split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]*)\s*$/.exec(part);
    if (!m) fail(path, `${showValue(v)} is not a label selector of the form key=value[,key=value]`);
    out[m[1]] = m[2];
  }
  return out;
}

function parseClients(v: unknown): ClientGroup[] {
  if (v === undefined) return [];
  if (!isObj(v)) fail('clients', 'must be a mapping of group names to {pods | selector | external}');
  return Object.entries(v).map(([name, g]): ClientGroup => {
    const path = `clients.${name}`;
    if (typeof g === 'string') return { name, kind: 'pods', ref: g };
    if (!isObj(g)) fail(path, 'must be {pods: REF}, {selector: LABELS, namespace: NS} or {external: CIDR, count: N}');
    known(g, path, ['pods', 'selector', 'namespace', 'external', 'count', 'node']);
    if (g.pods !== undefined) return { name, kind: 'pods', ref: str(g.pods, `${path}.pods`) };
    if (g.selector !== undefined) {
      return { name, kind: 'selector', labels: parseSelector(g.selector, `${path}.selector`), ...(g.namespace !== undefined ? { namespace: str(g.namespace, `${path}.namespace`) } : {}) };
    }
    if (g.external !== undefined) {
      const cidr = str(g.external, `${path}.external`);
      if (!/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(cidr)) fail(`${path}.external`, `${showValue(cidr)} is not an IPv4 address or CIDR`);
      return {
        name, kind: 'external', cidr: cidr.includes('/') ? cidr : `${cidr}/32`,
        count: g.count === undefined ? 16 : num(g.count, `${path}.count`, 1, 1 << 20, true),
        ...(g.node !== undefined ? { node: str(g.node, `${path}.node`) } : {}),
      };
    }
    return fail(path, 'needs one of pods, selector or external');
  });
}

const TRAFFIC_KEYS = ['from', 'to', 'proto', 'rate', 'connections', 'requests', 'size', 'lifetime', 'close', 'rstRatio', 'retransmit', 'popularity', 'via', 'http'] as const;

function parseEntry(v: unknown, index: number, duration: number, clients: ClientGroup[]): TrafficEntry {
  const path = `traffic[${index}]`;
  if (!isObj(v)) fail(path, 'must be a mapping with from, to and rate (or connections)');
  known(v, path, TRAFFIC_KEYS);
  const from = str(v.from, `${path}.from`);
  if (from.length > 340) fail(`${path}.from`, `${showValue(from)} is too long for a group or a reference`);
  // A reference in place of a group name makes a group of its own.
  if (!clients.some((c) => c.name === from)) {
    if (!/^[a-z]+\//.test(from)) fail(`${path}.from`, `${showValue(from)} is neither a client group (${clients.map((c) => c.name).join(', ') || 'none defined'}) nor a reference such as deploy/ns/name or pod/ns/name`);
    clients.push({ name: from, kind: 'pods', ref: from });
  }
  const to = Array.isArray(v.to) ? v.to.map((x, i) => str(x, `${path}.to[${i}]`)) : [str(v.to, `${path}.to`)];
  to.forEach((t, i) => { if (t.length > 340) fail(`${path}.to${Array.isArray(v.to) ? `[${i}]` : ''}`, `${showValue(t)} is too long for a target`); });
  if (to.length === 0) fail(`${path}.to`, 'an empty list');
  const proto = v.proto === undefined ? 'TCP' : str(v.proto, `${path}.proto`).toUpperCase();
  if (proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') fail(`${path}.proto`, `${showValue(v.proto)} is not TCP, UDP or SCTP`);
  let rate: number;
  if (v.rate !== undefined && v.connections !== undefined) fail(path, 'give rate or connections, not both');
  if (v.rate !== undefined) rate = num(v.rate, `${path}.rate`, 0, 1e7);
  else if (v.connections !== undefined) rate = num(v.connections, `${path}.connections`, 0, 1e9, true) / Math.max(duration, 1e-3);
  else return fail(path, 'needs rate (connections per second) or connections (a total)');
  let requestBytes = 100, responseBytes = 1000;
  if (v.size !== undefined) {
    if (typeof v.size === 'number') requestBytes = responseBytes = num(v.size, `${path}.size`, 0, 65000, true);
    else if (Array.isArray(v.size) && v.size.length === 2) {
      requestBytes = num(v.size[0], `${path}.size[0]`, 0, 65000, true);
      responseBytes = num(v.size[1], `${path}.size[1]`, 0, 65000, true);
    } else fail(`${path}.size`, 'must be bytes, or [request bytes, response bytes]');
  }
  let rstRatio = v.rstRatio === undefined ? 0 : num(v.rstRatio, `${path}.rstRatio`, 0, 1);
  if (v.close !== undefined) {
    const c = str(v.close, `${path}.close`).toLowerCase();
    if (c === 'rst') rstRatio = 1;
    else if (c !== 'fin') fail(`${path}.close`, `${showValue(v.close)} is not fin or rst`);
  }
  let popularity: Popularity = { kind: 'uniform' };
  if (v.popularity !== undefined && v.popularity !== 'uniform') {
    if (isObj(v.popularity) && Object.keys(v.popularity).length === 1 && 'zipf' in v.popularity) {
      popularity = { kind: 'zipf', s: num(v.popularity.zipf, `${path}.popularity.zipf`, 0, 10) };
    } else fail(`${path}.popularity`, `${showValue(v.popularity)} is not uniform or {zipf: s}`);
  }
  let via: Via | undefined;
  if (v.via !== undefined) {
    const w = str(v.via, `${path}.via`);
    if (!['loadBalancer', 'nodePort', 'externalIP', 'clusterIP'].includes(w)) fail(`${path}.via`, `${showValue(w)} is not loadBalancer, nodePort, externalIP or clusterIP`);
    via = w as Via;
  }
  let http: TrafficEntry['http'];
  if (v.http !== undefined) {
    if (proto !== 'TCP') fail(`${path}.http`, `an HTTP request needs proto TCP, not ${proto}`);
    try { parseHttpField(v.http); } catch (e) { fail(`${path}.http`, (e as Error).message.replace(/^"http(\.\w+)?": /, '')); }
    http = v.http as TrafficEntry['http'];
  }
  return {
    index, from, to, proto, rate, ...(http ? { http } : {}),
    requests: v.requests === undefined ? 1 : num(v.requests, `${path}.requests`, 0, 10000, true),
    requestBytes, responseBytes,
    lifetime: v.lifetime === undefined ? 0.02 : seconds(v.lifetime, `${path}.lifetime`),
    rstRatio, retransmit: v.retransmit === undefined ? 0 : num(v.retransmit, `${path}.retransmit`, 0, 1),
    popularity, ...(via ? { via } : {}),
  };
}

function parseChurn(v: unknown, duration: number): ChurnEvent[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail('churn', 'must be a list of events');
  const out = v.map((e, i): ChurnEvent => {
    const path = `churn[${i}]`;
    if (!isObj(e)) fail(path, 'must be a mapping such as {at: 2, scale: deploy/ns/name, replicas: 1}');
    known(e, path, ['at', 'scale', 'replicas', 'restart', 'for', 'apply', 'delete', 'fail']);
    const at = seconds(e.at, `${path}.at`);
    if (at > duration) fail(`${path}.at`, `${at} s is after the end of the run (${duration} s)`);
    if (e.scale !== undefined) return { at, kind: 'scale', ref: str(e.scale, `${path}.scale`), replicas: num(e.replicas, `${path}.replicas`, 0, 100000, true) };
    if (e.restart !== undefined) return { at, kind: 'restart', ref: str(e.restart, `${path}.restart`), for: e.for === undefined ? 1 : seconds(e.for, `${path}.for`) };
    if (e.fail !== undefined) {
      return { at, kind: 'fail', node: str(e.fail, `${path}.fail`), ...(e.for === undefined ? {} : { for: seconds(e.for, `${path}.for`) }) };
    }
    if (e.apply !== undefined) {
      const paths = Array.isArray(e.apply) ? e.apply.map((p, j) => str(p, `${path}.apply[${j}]`)) : [str(e.apply, `${path}.apply`)];
      return { at, kind: 'apply', paths };
    }
    if (e.delete !== undefined) {
      const items = Array.isArray(e.delete) ? e.delete : [e.delete];
      return {
        at, kind: 'delete', targets: items.map((x, j) => {
          const p = Array.isArray(e.delete) ? `${path}.delete[${j}]` : `${path}.delete`;
          if (typeof x === 'string') return str(x, p);
          if (!isObj(x)) fail(p, 'must be a path or {kind, namespace, name}');
          known(x, p, ['kind', 'namespace', 'name']);
          return { kind: str(x.kind, `${p}.kind`), name: str(x.name, `${p}.name`), ...(x.namespace !== undefined ? { namespace: str(x.namespace, `${p}.namespace`) } : {}) };
        }),
      };
    }
    return fail(path, 'needs one of scale, restart, fail, apply or delete');
  });
  return out.sort((a, b) => a.at - b.at);
}

/** A traffic spec from YAML or JSON text (or an object already parsed). */
export function parseTrafficSpec(input: string | unknown, file = 'traffic'): TrafficSpec {
  let v: unknown = input;
  if (typeof input === 'string') {
    try { v = parseYaml(input); } catch (e) { throw new InputError(`${file}: not YAML or JSON: ${(e as Error).message.split('\n')[0]}`); }
  }
  try {
    if (!isObj(v)) fail('(top)', 'must be a mapping with traffic (and optionally duration, seed, clients, churn)');
    known(v, '', ['duration', 'seed', 'clients', 'traffic', 'churn']);
    const duration = v.duration === undefined ? 5 : seconds(v.duration, 'duration');
    if (duration <= 0 || duration > 86400) fail('duration', `${duration} s is not in (0, 86400]`);
    const seed = v.seed === undefined ? 1 : num(v.seed, 'seed', 0, 0xffffffff, true);
    const clients = parseClients(v.clients);
    if (!Array.isArray(v.traffic) || v.traffic.length === 0) fail('traffic', 'must be a non-empty list');
    const traffic = v.traffic.map((e, i) => parseEntry(e, i, duration, clients));
    return { duration, seed, clients, traffic, churn: parseChurn(v.churn, duration) };
  } catch (e) {
    if (e instanceof InputError && file !== 'traffic') throw new InputError(`${file}: ${e.message.replace(/^traffic spec: /, '')}`, e.field);
    throw e;
  }
}
