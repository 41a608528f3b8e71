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

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Dataplane, Options } from './dataplane.js';
import { createDataplane } from './node.js';
import { formatIPv4, parseIPv4 } from './common/ip.js';
import {
  PacketBatch, NONE, NAT, PROTO, VERDICT, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE, CT_STATE_NAMES, parseTcpFlags, formatTcpFlags,
} from './packet.js';
import { ClusterModel } from './k8s/model.js';
import { EXCLUSION_TEXT } from './k8s/endpoints.js';
import { CompileOptions, CompiledCluster, compileCluster, limitsForModel } from './k8s/compile.js';

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
  excluded: TraceExcluded[];
}

export interface TraceError { line: number; error: string }

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

  constructor(readonly dp: Dataplane, private readonly source: CompiledSource) {
    this.batch = dp.allocBatch(1);
  }

  get compiled(): CompiledCluster {
    return this.source instanceof CompiledCluster ? this.source : this.source.compiled;
  }

  /** Virtual time of the last packet, in seconds. */
  get time(): number { return this.t; }

  /** One line of input: a record, an error record, or undefined for a blank line. */
  traceLine(text: string, line: number): TraceRecord | TraceError | undefined {
    if (text.trim() === '') return undefined;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      return { line, error: `line ${line}: not JSON: ${(e as Error).message}` };
    }
    return this.trace(v, line);
  }

  /** One packet, given as the parsed JSON object of an input line. */
  trace(input: unknown, line: number): TraceRecord | TraceError {
    try {
      return this.run(input, line);
    } catch (e) {
      if (e instanceof InputError) return { line, error: `line ${line}: ${e.message}` };
      throw e;
    }
  }

  private run(input: unknown, line: number): TraceRecord {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InputError('expected a JSON object');
    const o = input as Record<string, unknown>;
    const known = new Set(['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'node', 't']);
    const extra = Object.keys(o).filter((k) => !known.has(k));
    if (extra.length) throw new InputError(`unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...known].join(', ')})`);
    const cc = this.compiled;
    const src = field(o, 'src', asIP, 'an IPv4 address');
    const dst = field(o, 'dst', asIP, 'an IPv4 address');
    const sport = field(o, 'sport', asPort, 'a port number 0..65535');
    const dport = field(o, 'dport', asPort, 'a port number 0..65535');
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
    return {
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
      excluded: (port?.eligible.excluded ?? []).map((x) => {
        const e = x.endpoint;
        const ep = 'port' in e ? `${e.address}:${e.port}` : e.address ?? null;
        const target = 'port' in e && e.targetRef ? e.targetRef.name : null;
        return { endpoint: ep, target, slice: e.slice, reason: x.reason, why: EXCLUSION_TEXT[x.reason] };
      }),
    };
  }
}

export interface TraceSetup {
  backend?: 'wasm' | 'reference';
  compile?: CompileOptions;
  /** Dataplane options (seed, lifetimes, ...); limits default to limitsForModel(model, flows). */
  dataplane?: Options;
  /** Live flows to size the dataplane for (default 65536). */
  flows?: number;
}

/** A fresh dataplane of the given kind, compiled from `model`, and a tracer over it. */
export async function createTracer(model: ClusterModel, setup: TraceSetup = {}): Promise<Tracer> {
  const dp = await createDataplane(setup.backend ?? 'wasm', { ...limitsForModel(model, setup.flows ?? 65536, setup.compile), ...setup.dataplane });
  const compiled = compileCluster(dp, model, setup.compile);
  return new Tracer(dp, compiled);
}

/** Trace every line of `input` in order, writing one JSON line per packet (or error). */
export async function traceStream(input: Readable | AsyncIterable<string>, write: (line: string) => void, tracer: Tracer): Promise<{ packets: number; errors: number }> {
  const lines: AsyncIterable<string> = 'pipe' in input ? createInterface({ input: input as Readable, crlfDelay: Infinity }) : input;
  let n = 0, packets = 0, errors = 0;
  for await (const text of lines) {
    n++;
    const r = tracer.traceLine(text, n);
    if (!r) continue;
    if ('error' in r) errors++; else packets++;
    write(JSON.stringify(r));
  }
  return { packets, errors };
}

/** Trace lines given as strings (the same as traceStream, synchronously). */
export function traceLines(tracer: Tracer, lines: string[]): (TraceRecord | TraceError)[] {
  const out: (TraceRecord | TraceError)[] = [];
  lines.forEach((text, i) => { const r = tracer.traceLine(text, i + 1); if (r) out.push(r); });
  return out;
}
