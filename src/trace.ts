// `dpemu trace`: packets described as JSON lines go one at a time through one
// stateful dataplane compiled from Kubernetes manifests (src/k8s/compile.ts),
// and each comes out as a JSON record that says what happened to it and why:
// the node it entered on, the frontend it hit, the service entry's rule (traffic
// policy, topology hints, affinity), the endpoints kube-proxy would not use and
// why, the NAT done, and the node it was delivered to.
//
// Input line: {"src","dst","sport","dport","proto":"TCP|UDP|SCTP" (TCP),"flags":"S|SA|A|F|R|P..." (S),
//              "node" (name of the node it enters on),"t" (virtual seconds; default the previous t)}
// Default node: a packet to a NodePort is processed on the node owning that address (kube-proxy's
// KUBE-NODEPORTS rule matches only --dst-type LOCAL); anything else on the node of the pod (or the
// node) that owns the source address; an external source sending to a pod or node address enters on
// that address's node. An external source sending to a virtual IP (cluster, LB, external) needs "node".
//
// Control lines change the cluster while traffic flows (a tracer over a ClusterRuntime: createTracer(files)):
//   {"apply": "path" | ["path", ...], "t"?}       kubectl apply of manifest files or directories
//   {"delete": "path" | {"kind","namespace"?,"name"} | [...], "t"?}   kubectl delete of objects
// Paths are relative to the current directory. Only the changed map entries are reprogrammed:
// established flows keep a backend that still exists; UDP flows of endpoints that stopped serving are
// flushed, TCP flows are left (kube-proxy). Each gives {"line","t","applied": the runtime's report};
// one that fails ({"line","error"}) changes nothing.

import { HttpStep, routeHttpPacket } from './gateway/trace-hook.js';
import type { HttpDecision } from './gateway/router.js';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Dataplane, Options } from './dataplane.js';
import { createDataplane } from './node.js';
import { formatIPv4, parseIPv4 } from './common/ip.js';
import {
  PacketBatch, NONE, NAT, PROTO, VERDICT, DROP, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE, CT_STATE_NAMES, parseTcpFlags, formatTcpFlags,
} from './packet.js';
import { ClusterModel } from './k8s/model.js';
import { EXCLUSION_TEXT } from './k8s/endpoints.js';
import { CompileOptions, CompiledCluster, compileCluster, limitsForModel } from './k8s/compile.js';
import { LoadOptions, ManifestFile, loadManifests } from './k8s/load.js';
import { ApplyReport, ClusterRuntime, ObjectRef } from './k8s/runtime.js';
import { readManifestFiles } from './k8s/files.js';
import { formatRuleInfo } from './policy/explain.js';
import type { Connection } from './policy/spec.js';
import { resolve as resolvePath } from 'node:path';

export interface TraceFrontend {
  kind: string;
  /** "ip:port" of the frontend. */
  address: string;
  /** Which entry of the frontend served the packet: 'any', or one node's ('node', 'internal', 'external'). */
  scope: string;
  /** The node of a node-scoped entry. */
  node: string | null;
}

export interface TraceExcluded {
  endpoint: string | null;
  target: string | null;
  slice: string;
  reason: string;
  why: string;
}

export interface TraceRecord {
  line: number;
  t: number;
  /** Node the packet entered on. */
  node: string;
  proto: string;
  flags: string | null;
  in: { src: string; sport: number; dst: string; dport: number };
  verdict: string;
  drop_reason: string | null;
  ct_state: string;
  /** The packet as it leaves (unchanged when dropped). */
  src: string; sport: number; dst: string; dport: number;
  nat: string[];
  service: string | null;
  frontend: TraceFrontend | null;
  backend: string | null;
  /** Node of the pod (or node) the packet is delivered to; null when dropped or leaving the cluster. */
  delivered_node: string | null;
  cross_node: boolean;
  rule: string | null;
  /**
   * The policy decision on a connection's first packet (or on a packet judged again after a policy
   * change), from the compiled rule table: "allowed by NetworkPolicy ns/name ingress[0]", "denied by
   * AdminNetworkPolicy name egress rule "x"", or "dropped: ingress isolated by NetworkPolicy ns/name;
   * no rule matched". null when the cluster has no policies or nothing was judged.
   */
  policy: string | null;
  excluded: TraceExcluded[];
  /** A north-south request's decision (src/gateway/router.ts HttpDecision), when the packet carried `http`. */
  http?: HttpDecision;
}

export interface TraceError { line: number; error: string }

/** What a control line ({"apply": ...} or {"delete": ...}) did: the runtime's report. */
export interface TraceChange { line: number; t: number; applied: ApplyReport }

export type TraceOutput = TraceRecord | TraceError | TraceChange;

export interface TracerOptions {
  /** Directory the paths of control lines are relative to (default: the current directory). */
  cwd?: string;
  /** How control lines read manifest paths (default: readManifestFiles, directories expanded). */
  readFiles?: (paths: string[]) => ManifestFile[];
}

const NAT_NAMES = Object.entries(NAT) as [string, number][];
const PROTO_BY_NAME: Record<string, number> = { TCP: PROTO.TCP, UDP: PROTO.UDP, SCTP: PROTO.SCTP };
const PROTO_NAME: Record<number, string> = { [PROTO.TCP]: 'TCP', [PROTO.UDP]: 'UDP', [PROTO.SCTP]: 'SCTP' };

class InputError extends Error {}

function field<T>(o: Record<string, unknown>, name: string, check: (v: unknown) => T | undefined, what: string, dflt?: T): T {
  const v = o[name];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new InputError(`"${name}" is missing (${what})`);
  }
  const r = check(v);
  if (r === undefined) throw new InputError(`"${name}": ${JSON.stringify(v)} is not ${what}`);
  return r;
}
const asIP = (v: unknown) => (typeof v === 'string' ? parseIPv4(v) : undefined);
const asPort = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? v : undefined);
const asProto = (v: unknown) => (typeof v === 'string' ? PROTO_BY_NAME[v.toUpperCase()] : undefined);
const asTime = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v * 1000 <= 0xffffffff ? v : undefined);

/** Where the packets go: anything holding the current compiled cluster (a CompiledCluster or a ClusterRuntime). */
export type CompiledSource = CompiledCluster | { readonly compiled: CompiledCluster };

export class Tracer {
  private readonly batch: PacketBatch;
  private t = 0;
  private gcMs = 0;

  constructor(readonly dp: Dataplane, private readonly source: CompiledSource, private readonly options: TracerOptions = {}) {
    this.batch = dp.allocBatch(1);
  }

  get compiled(): CompiledCluster {
    return this.source instanceof CompiledCluster ? this.source : this.source.compiled;
  }

  /** Virtual time of the last packet, in seconds. */
  get time(): number { return this.t; }

  /** One line of input: a record, an error record, a change record, or undefined for a blank line. */
  traceLine(text: string, line: number): TraceOutput | undefined {
    if (text.trim() === '') return undefined;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      return { line, error: `line ${line}: not JSON: ${(e as Error).message}` };
    }
    return this.step(v, line);
  }

  /** One packet, given as the parsed JSON object of an input line. */
  trace(input: unknown, line: number): TraceRecord | TraceError {
    return this.guard(line, () => this.run(input, line));
  }

  /** One input line's parsed JSON: a packet, or a control line ({"apply": ...}, {"delete": ...}). */
  step(input: unknown, line: number): TraceOutput {
    return this.guard<TraceOutput>(line, () => (isControl(input) ? this.change(input, line) : this.run(input, line)));
  }

  private guard<T>(line: number, f: () => T): T | TraceError {
    try {
      return f();
    } catch (e) {
      if (e instanceof InputError) return { line, error: `line ${line}: ${e.message}` };
      throw e;
    }
  }

  /** A control line: apply or delete objects through the runtime, at time "t". */
  private change(o: Record<string, unknown>, line: number): TraceChange {
    const op = 'apply' in o ? 'apply' : 'delete';
    const extra = Object.keys(o).filter((k) => k !== op && k !== 't');
    if (extra.length) throw new InputError(`${op}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (a control line takes "${op}" and "t")`);
    const rt = this.source;
    if (!(rt instanceof ClusterRuntime)) throw new InputError(`${op}: this tracer's cluster cannot change (it was not created over a ClusterRuntime)`);
    const t = field(o, 't', asTime, 'a number of seconds >= 0 (at most about 49.7 days)', this.t);
    if (t < this.t) throw new InputError(`"t": ${t} is earlier than the previous line's ${this.t} (time only moves forward)`);
    const items = Array.isArray(o[op]) ? (o[op] as unknown[]) : [o[op]];
    if (items.length === 0) throw new InputError(`"${op}": an empty list`);
    const targets: (string | ObjectRef)[] = items.map((v, i) => {
      const where = Array.isArray(o[op]) ? `"${op}"[${i}]` : `"${op}"`;
      if (typeof v === 'string' && v !== '') return v;
      if (op === 'delete' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const r = v as Record<string, unknown>;
        const bad = Object.keys(r).filter((k) => !['kind', 'namespace', 'name'].includes(k));
        if (bad.length) throw new InputError(`${where}: unknown field${bad.length > 1 ? 's' : ''} ${bad.map((k) => JSON.stringify(k)).join(', ')} (known: kind, namespace, name)`);
        const str = (k: string): string => {
          if (typeof r[k] !== 'string' || r[k] === '') throw new InputError(`${where}: "${k}" must be a non-empty string`);
          return r[k] as string;
        };
        const ref: ObjectRef = { kind: str('kind'), name: str('name') };
        if (r.namespace !== undefined) ref.namespace = str('namespace');
        return ref;
      }
      throw new InputError(`${where}: ${JSON.stringify(v)} is not ${op === 'apply' ? 'a path' : 'a path or {"kind", "namespace", "name"}'}`);
    });
    let report: ApplyReport;
    try {
      // Read everything first: an unreadable path changes nothing.
      const read = this.options.readFiles ?? readManifestFiles;
      const cwd = this.options.cwd;
      const resolved = targets.map((x) => (typeof x === 'string' ? read([cwd === undefined ? x : resolvePath(cwd, x)]) : [x])).flat();
      // Expired flows are collected first, as before a packet at t.
      this.t = t;
      const nowMs = Math.round(t * 1000);
      if (nowMs > this.gcMs) { this.dp.gc(nowMs); this.gcMs = nowMs; }
      report = op === 'apply' ? rt.apply(resolved as ManifestFile[]) : rt.delete(resolved);
    } catch (e) {
      const msg = (e as Error).message;
      throw new InputError(msg.startsWith(`${op}: `) ? msg : `${op}: ${msg}`);
    }
    return { line, t, applied: report };
  }

  private run(input: unknown, line: number): TraceRecord {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InputError('expected a JSON object');
    const o = input as Record<string, unknown>;
    const known = new Set(['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'node', 't', 'http']);
    const extra = Object.keys(o).filter((k) => !known.has(k));
    if (extra.length) throw new InputError(`unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...known].join(', ')})`);
    const cc = this.compiled;
    const src = field(o, 'src', asIP, 'an IPv4 address');
    let dst = field(o, 'dst', asIP, 'an IPv4 address');
    const sport = field(o, 'sport', asPort, 'a port number 0..65535');
    let dport = field(o, 'dport', asPort, 'a port number 0..65535');
    // ---- north-south: an HTTP request is routed by its Gateway or Ingress first (src/gateway/trace-hook.ts)
    let http: HttpStep | undefined;
    if (o.http !== undefined) {
      try { http = routeHttpPacket(cc.model, formatIPv4(dst), dport, o.http); } catch (e) { throw new InputError((e as Error).message); }
      if (!http) throw new InputError(`"http": no Gateway listener or Ingress answers at ${formatIPv4(dst)}:${dport}`);
      if (!http.forward) return httpAnswered(line, this.t, o, http, formatIPv4(dst), sport, dport);
      dst = parseIPv4(http.forward.dst)!;
      dport = http.forward.dport;
      // The proxy forwards from the node the request enters on; the first node when none is named.
      if (o.node === undefined && !cc.owner(src)) o.node = [...cc.nodeIdByName.keys()][0];
    }
    // ---- end north-south
    const proto = field(o, 'proto', asProto, 'TCP, UDP or SCTP', PROTO.TCP);
    let tcpFlags = 0;
    if (proto === PROTO.TCP) {
      const text = field(o, 'flags', (v) => (typeof v === 'string' ? v : undefined), 'a string of TCP flags (S, A, F, R, P)', 'S');
      try { tcpFlags = parseTcpFlags(text); } catch (e) { throw new InputError(`"flags": ${(e as Error).message}`); }
    } else if (o.flags !== undefined) {
      throw new InputError(`"flags" apply to TCP only, not ${PROTO_NAME[proto]}`);
    }
    const t = field(o, 't', asTime, 'a number of seconds >= 0 (at most about 49.7 days)', this.t);
    if (t < this.t) throw new InputError(`"t": ${t} is earlier than the previous packet's ${this.t} (time only moves forward)`);

    // The node the packet enters on.
    let nodeName: string;
    if (o.node !== undefined) {
      if (typeof o.node !== 'string' || !cc.nodeIdByName.has(o.node)) {
        throw new InputError(`"node": ${JSON.stringify(o.node)} is not a node of the cluster (${[...cc.nodeIdByName.keys()].join(', ')})`);
      }
      nodeName = o.node;
    } else {
      const fe = cc.frontend(dst, dport, proto);
      const dstOwner = cc.owner(dst);
      const srcOwner = cc.owner(src);
      if (fe?.kind === 'NodePort' && dstOwner && !dstOwner.pod) nodeName = dstOwner.node;
      else if (srcOwner) nodeName = srcOwner.node;
      else if (dstOwner) nodeName = dstOwner.node;
      else throw new InputError(`"node" is required: ${formatIPv4(src)} is outside the cluster (no pod or node has it) and ${formatIPv4(dst)} belongs to no node, so name the node the packet enters on`);
    }
    const node = cc.nodeIdByName.get(nodeName)!;

    this.t = t;
    const nowMs = Math.round(t * 1000);
    if (nowMs > this.gcMs) { this.dp.gc(nowMs); this.gcMs = nowMs; }
    this.batch.set(0, { saddr: src, daddr: dst, sport, dport, proto, tcpFlags, node, len: 64 });
    this.dp.process(this.batch, 1, nowMs);
    const r = this.batch.get(0);

    const entry = r.service !== NONE ? cc.servicesByIndex.get(r.service) : undefined;
    const port = entry ? cc.servicePort(entry) : undefined;
    let frontend: TraceFrontend | null = null;
    if (entry) {
      // A reply leaves from the frontend the client talked to.
      const [fa, fp] = r.ctState === CT_STATE.REPLY ? [r.outSaddr, r.outSport] : [r.daddr, r.dport];
      const fe = cc.frontend(fa, fp, proto);
      frontend = { kind: fe?.kind ?? 'unknown', address: `${formatIPv4(fa)}:${fp}`, scope: entry.scope, node: entry.node ?? null };
    }
    const b = r.backend !== NONE ? cc.backendsById.get(r.backend) : undefined;
    let delivered: string | null = null;
    if (r.verdict === VERDICT.FORWARDED) {
      delivered = cc.owner(r.outDaddr)?.node ?? (r.ctState !== CT_STATE.REPLY && b?.node !== undefined ? b.node : null);
    }
    const record: TraceRecord = {
      line, t, node: nodeName, proto: PROTO_NAME[proto], flags: proto === PROTO.TCP ? formatTcpFlags(tcpFlags) : null,
      in: { src: formatIPv4(src), sport, dst: formatIPv4(dst), dport },
      verdict: VERDICT_NAMES[r.verdict] ?? String(r.verdict),
      drop_reason: r.dropReason ? DROP_REASON_NAMES[r.dropReason] ?? String(r.dropReason) : null,
      ct_state: CT_STATE_NAMES[r.ctState] ?? String(r.ctState),
      src: formatIPv4(r.outSaddr), sport: r.outSport, dst: formatIPv4(r.outDaddr), dport: r.outDport,
      nat: NAT_NAMES.filter(([, bit]) => r.natFlags & bit).map(([n]) => n),
      service: entry?.label ?? null,
      frontend,
      backend: b ? `${formatIPv4(b.addr)}:${b.port}` : r.backend !== NONE ? `#${r.backend}` : null,
      delivered_node: delivered,
      cross_node: delivered !== null && delivered !== nodeName,
      rule: entry?.rule ?? null,
      policy: policyText(cc, r.policyRule, r.dropReason, r.ctState, r.verdict === VERDICT.FORWARDED && r.ctState === CT_STATE.NEW
        ? { src: formatIPv4(src), dst: formatIPv4(r.outDaddr), srcAfterSnat: formatIPv4(r.outSaddr), protocol: PROTO_NAME[proto] as Connection['protocol'], port: r.outDport }
        : undefined),
      excluded: (port?.eligible.excluded ?? []).map((x) => {
        const e = x.endpoint;
        const ep = 'port' in e ? `${e.address}:${e.port}` : e.address ?? null;
        const target = 'port' in e && e.targetRef ? e.targetRef.name : null;
        return { endpoint: ep, target, slice: e.slice, reason: x.reason, why: EXCLUSION_TEXT[x.reason] };
      }),
    };
    if (http) { record.http = http.http; record.in.dst = formatIPv4(field(o, 'dst', asIP, 'an IPv4 address')); record.in.dport = field(o, 'dport', asPort, 'a port'); }
    return record;
  }
}

/** The record of a request the Gateway or Ingress answered itself (404, 500, 503, a redirect): no dataplane packet. */
function httpAnswered(line: number, t: number, o: Record<string, unknown>, h: HttpStep, dst: string, sport: number, dport: number): TraceRecord {
  return {
    line, t: typeof o.t === 'number' ? o.t : t, node: typeof o.node === 'string' ? o.node : '', proto: 'TCP', flags: null,
    in: { src: String(o.src), sport, dst, dport }, verdict: 'ANSWERED_BY_PROXY', drop_reason: null, ct_state: 'NONE',
    src: String(o.src), sport, dst, dport, nat: [], service: null, frontend: null, backend: null, delivered_node: null,
    cross_node: false, rule: null, policy: null, excluded: [], http: h.http,
  };
}

/**
 * The policy field of a record (see TraceRecord.policy). A drop is explained by the rule id the
 * core recorded. An allowed new connection passed two checks (the client's egress, then the
 * destination's ingress) and the core records the last one, so both directions are named from the
 * spec evaluator (src/policy/spec.ts, which the property tests hold the maps to).
 */
function policyText(cc: CompiledCluster, rule: number, dropReason: number, ctState: number, allowed?: Connection): string | null {
  const compiled = cc.plan.policy;
  if (!compiled) return null;
  if (allowed) {
    const d = cc.policySpec()?.decide(allowed);
    const parts = [d?.egress, d?.ingress].filter((x) => x !== undefined && x.enforced)
      .map((x) => `${x === d?.egress ? 'egress' : 'ingress'} ${x!.explanation}`);
    if (d?.allowed && parts.length) return parts.join('; ');
  }
  const info = rule !== 0 ? compiled.rules.get(rule) : undefined;
  if (info) return formatRuleInfo(info);
  if (dropReason === DROP.POLICY_DENIED || dropReason === DROP.POLICY_DENY) return 'dropped by policy';
  if (ctState === CT_STATE.NEW) return 'allowed: no policy isolates it, or it is exempt (own node, self)';
  return null;
}

export interface TraceSetup {
  backend?: 'wasm' | 'reference';
  compile?: CompileOptions;
  /** Dataplane options (seed, lifetimes, ...); limits default to limitsForModel(model, flows). */
  dataplane?: Options;
  /** Live flows to size the dataplane for (default 65536). */
  flows?: number;
  /** Loader options, when the tracer is created from manifest files. */
  load?: LoadOptions;
  /** Directory the paths of control lines are relative to (default: the current directory). */
  cwd?: string;
  /** How control lines read manifest paths (default: readManifestFiles). */
  readFiles?: (paths: string[]) => ManifestFile[];
}

/**
 * A fresh dataplane of the given kind and a tracer over it: compiled once from a model, or, given
 * manifest files, held by a ClusterRuntime so that control lines can apply and delete objects.
 */
export async function createTracer(cluster: ClusterModel | ManifestFile[], setup: TraceSetup = {}): Promise<Tracer> {
  const files = Array.isArray(cluster) ? cluster : undefined;
  const model = files ? loadManifests(files, setup.load).model : (cluster as ClusterModel);
  const dp = await createDataplane(setup.backend ?? 'wasm', { ...limitsForModel(model, setup.flows ?? 65536, setup.compile), ...setup.dataplane });
  const opts: TracerOptions = { cwd: setup.cwd, readFiles: setup.readFiles };
  if (files) return new Tracer(dp, ClusterRuntime.create(dp, files, { ...setup.compile, load: setup.load }), opts);
  return new Tracer(dp, compileCluster(dp, model, setup.compile), opts);
}

const isControl = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && ('apply' in v || 'delete' in v) && !('apply' in v && 'delete' in v);

/** Trace every line of `input` in order, writing one JSON line per packet, change (control line) or error. */
export async function traceStream(input: Readable | AsyncIterable<string>, write: (line: string) => void, tracer: Tracer): Promise<{ packets: number; errors: number; changes: number }> {
  const lines: AsyncIterable<string> = 'pipe' in input ? createInterface({ input: input as Readable, crlfDelay: Infinity }) : input;
  let n = 0, packets = 0, errors = 0, changes = 0;
  for await (const text of lines) {
    n++;
    const r = tracer.traceLine(text, n);
    if (!r) continue;
    if ('error' in r) errors++; else if ('applied' in r) changes++; else packets++;
    write(JSON.stringify(r));
  }
  return { packets, errors, changes };
}

/** Trace lines given as strings (the same as traceStream, synchronously). */
export function traceLines(tracer: Tracer, lines: string[]): TraceOutput[] {
  const out: TraceOutput[] = [];
  lines.forEach((text, i) => { const r = tracer.traceLine(text, i + 1); if (r) out.push(r); });
  return out;
}
