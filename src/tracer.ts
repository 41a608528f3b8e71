// The tracer behind `dpemu trace` and the library API's send(): packets described as JSON lines go one at a time through one
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
//   {"fail": "node-b", "t"?}                       the node fails: its conntrack and affinity are lost, packets
//                                                  to or through it are dropped, its pods' endpoints go not ready
//   {"restart": "node-b", "agent"?: true, "t"?}    the node boots again (empty conntrack, pods ready again);
//                                                  with "agent": only kube-proxy/the agent restarts (nothing lost)
// Paths are relative to the current directory. Only the changed map entries are reprogrammed:
// established flows keep a backend that still exists; UDP flows of endpoints that stopped serving are
// flushed, TCP flows are left (kube-proxy). Each gives {"line","t","applied": the runtime's report};
// one that fails ({"line","error"}) changes nothing.

import type { Dataplane } from './dataplane.js';
import { InputError } from './errors.js';
import { healthCheckAnswer, HealthCheckAnswer } from './k8s/health-check.js';
import { formatIPv4, parseIPv4 } from './common/ip.js';
import {
  PacketBatch, PacketIn, PacketRecord, showValue, NONE, NODE_NONE, NAT, PROTO, VERDICT, DROP, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE, CT_STATE_NAMES, parseTcpFlags, formatTcpFlags, tcpFlagBit, TCP,
} from './packet.js';
import { PROTO_NAMES, hasPorts, protocolNumber } from './protocols.js';
import { EXCLUSION_TEXT } from './k8s/endpoints.js';
import { CompiledCluster, PlannedService, PlannedBackend } from './k8s/compile.js';
import type { ManifestFile } from './k8s/load.js';
import type { Pod, Service } from './k8s/model.js';
import { PacketNames, isName } from './names.js';
import { ScannedLine, dottedQuadAt, newScannedLine, scanPacketLine } from './trace-scan.js';
import { ApplyReport, ClusterChange, ClusterRuntime, ObjectRef } from './k8s/runtime.js';
import { formatRuleInfo } from './policy/explain.js';
import type { Connection } from './policy/spec.js';
import { HttpStep, parseHttpField, routeHttpBatch, routeHttpPacket } from './gateway/trace-hook.js';
import type { HttpDecision, HttpRequest } from './gateway/router.js';

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
  /** The names the input gave for src and dst (a pod or workload; a Service or DNS name), with what they resolved to. */
  names?: { src?: string; dst?: string };
  /** kube-proxy's health check server's answer, when the packet went to a node's healthCheckNodePort. */
  health_check?: HealthCheckAnswer;
  /**
   * The nodes that processed the packet, when it crossed to a second one (the node owning its destination, or
   * for a reply the node that NATed it): each node's conntrack state for it ("stage"), its verdict there and the
   * NAT done there. Absent when the packet was processed on its entry node alone.
   */
  hops?: TraceHop[];
}

/** One node's part in a packet's fate (TraceRecord.hops). */
export interface TraceHop { node: string; stage: string; verdict: string; nat: string[] }

export interface TraceError { line: number; error: string }

/**
 * Where runLinesJson can write its output lines as bytes (the CLI's LineWriter, src/output/line-writer.ts):
 * a record of the common shape is written there from cached byte pieces, with no string made for it; any
 * other line is handed over as text (`write`). Browser-safe: the tracer only calls these methods.
 */
export interface RecordBytesSink {
  write(line: string): boolean | void;
  room(bytes: number): void;
  putBytes(bytes: Uint8Array): void;
  putAscii(text: string, from?: number, to?: number): void;
  putUint(n: number): void;
  putString(text: string): void;
  endLine(): void;
}

const utf8 = new TextEncoder();
const LINE_OPEN = utf8.encode('{"line":');
const SPORT_KEY = utf8.encode('","sport":');
const DST_KEY = utf8.encode(',"dst":"');
const HOPS_KEY = utf8.encode(',"hops":');

/** What a control line ({"apply"}, {"delete"}, {"fail"} or {"restart"}) did: the runtime's report. */
export interface TraceChange { line: number; t: number; applied: ApplyReport }

export type TraceOutput = TraceRecord | TraceError | TraceChange;

export interface TracerOptions {
  /** Directory the paths of control lines are relative to (default: the current directory). */
  cwd?: string;
  /** How control lines read manifest paths (Node: readManifestFiles, directories expanded; none: paths are refused). */
  readFiles?: (paths: string[]) => ManifestFile[];
  /**
   * How a control line changes the cluster (default: the ClusterRuntime the tracer was created over). The
   * library API passes its own, so that every change goes through it (and into its snapshots).
   */
  change?: (change: ClusterChange) => ApplyReport;
}

const NAT_NAMES = Object.entries(NAT) as [string, number][];
/** The packet fields a trace line (and the API's send()) takes. */
export const PACKET_FIELDS = ['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'node', 't', 'http'] as const;
const KNOWN_FIELDS = new Set<string>(PACKET_FIELDS);

/** A record's `nat` list for each combination of NAT flags, made once (the lists are frozen and shared). */
const NAT_LISTS: readonly string[][] = Array.from({ length: 32 }, (_, f) => Object.freeze(NAT_NAMES.filter(([, bit]) => f & bit).map(([n]) => n)) as string[]);
/** `,"nat":[...],` of a record, by NAT flags. */
const NAT_LIST_JSON: readonly string[] = NAT_LISTS.map((l) => JSON.stringify(l));
/** `,"nat":[...],` of a record: the list with the punctuation around it. */
const NAT_JSON: readonly string[] = NAT_LIST_JSON.map((l) => `,"nat":${l},`);

/** Port numbers as text, made once each (records repeat ports; a number's text is a fresh string each time). */
const PORT_TEXT: string[] = new Array(65536).fill('');
const portText = (p: number): string => PORT_TEXT[p] || (PORT_TEXT[p] = String(p));
/** `port,"dst":"`: a record's source port with what follows it. */
const PORT_BEFORE_DST: string[] = new Array(65536).fill('');
const portBeforeDst = (p: number): string => PORT_BEFORE_DST[p] || (PORT_BEFORE_DST[p] = `${p},"dst":"`);

/** Address names kept (AddressNames): 4,096 (a record names a packet's source from its line, its backend from the cached tail). */
const ADDRESS_BITS = 12;
const ADDRESS_SLOTS = 1 << ADDRESS_BITS;

/**
 * Dotted quads of recently seen addresses: records name the same few addresses again and again. A
 * direct-mapped table (ADDRESS_SLOTS slots by a hash of the address): a hit is two array reads.
 */
class AddressNames {
  private readonly keys = new Float64Array(ADDRESS_SLOTS).fill(-1);
  private readonly texts: string[] = new Array(ADDRESS_SLOTS).fill('');
  // a record's address with what follows it there, so that a record is fewer, longer pieces
  private readonly beforeSport: string[] = new Array(ADDRESS_SLOTS).fill('');
  private readonly beforeDport: string[] = new Array(ADDRESS_SLOTS).fill('');
  private slot(a: number): number {
    const slot = Math.imul(a, 0x9e3779b1) >>> (32 - ADDRESS_BITS);
    if (this.keys[slot] !== a) {
      this.keys[slot] = a; this.texts[slot] = formatIPv4(a);
      this.beforeSport[slot] = ''; this.beforeDport[slot] = ''; // made when first asked for
    }
    return slot;
  }
  get(a: number): string { return this.texts[this.slot(a)]; }
  /** `a.b.c.d","sport":` */
  srcPart(a: number): string {
    const s = this.slot(a);
    return this.beforeSport[s] || (this.beforeSport[s] = this.texts[s] + '","sport":');
  }
  /** `a.b.c.d","dport":` */
  dstPart(a: number): string {
    const s = this.slot(a);
    return this.beforeDport[s] || (this.beforeDport[s] = this.texts[s] + '","dport":');
  }
}

function field<T>(o: Record<string, unknown>, name: string, check: (v: unknown) => T | undefined, what: string, dflt?: T): T {
  const v = o[name];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new InputError(`"${name}" is missing (${what})`, name);
  }
  const r = check(v);
  if (r === undefined) throw new InputError(`"${name}": ${showValue(v)} is not ${what}`, name);
  return r;
}
const asIP = (v: unknown) => (typeof v === 'string' ? parseIPv4(v) : undefined);
const asPort = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? v : undefined);
const asProto = (v: unknown) => (typeof v === 'string' ? protocolNumber(v) : undefined);
const asTime = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v * 1000 <= Number.MAX_SAFE_INTEGER ? v : undefined);

/** Where the packets go: anything holding the current compiled cluster (a CompiledCluster or a ClusterRuntime). */
export type CompiledSource = CompiledCluster | { readonly compiled: CompiledCluster };

/**
 * A packet read from its JSON form, ready for a descriptor. With `http` it was a request to a Gateway or an
 * Ingress: `answered` when the proxy answered it itself (no dataplane packet), else the packet goes on to the
 * chosen Service and the record names the address the client sent to (`httpDst`).
 */
interface ParsedPacket {
  line: number; t: number; nodeName: string; pkt: PacketIn;
  http?: HttpStep; httpDst?: { dst: string; dport: number }; answered?: TraceRecord;
  /** The names the packet gave for its endpoints (names.ts). */
  names?: { src?: string; dst?: string };
  /**
   * A destination named by DNS and resolved through the cluster DNS: the client's queries (one per name its
   * resolver tried) go through the dataplane to the kube-dns Service first, from source port `sport`.
   */
  dns?: { server: number; queries: number; sport: number };
}

/** Slots of the table of record tails (Tracer.tailJson): a power of two (131,072 slots, 5.2 MB of keys). */
const TAIL_SLOTS = 1 << 17;
/** Numbers in a record tail's key. */
const TAIL_KEY = 10;

/** How many packets go through the core in one process() call at most. */
const CHUNK = 1024;


export class Tracer {
  private batch: PacketBatch;
  private t = 0;
  private gcMs = 0;
  private readonly names = new AddressNames();
  private readonly excludedOf = new WeakMap<object, TraceExcluded[]>();

  constructor(readonly dp: Dataplane, private readonly source: CompiledSource, readonly options: TracerOptions = {}) {
    this.batch = dp.allocBatch(CHUNK);
  }

  get compiled(): CompiledCluster {
    return this.source instanceof CompiledCluster ? this.source : this.source.compiled;
  }

  /** Virtual time of the last packet, in seconds. */
  get time(): number { return this.t; }
  /** The clock as a tracer state (for snapshots): time in seconds and the last garbage collection in ms. */
  get clock(): { t: number; gcMs: number } { return { t: this.t, gcMs: this.gcMs }; }
  set clock(c: { t: number; gcMs: number }) { this.t = c.t; this.gcMs = c.gcMs; }

  /** Move the clock to `t` seconds (never back), collecting expired flows as a packet at `t` would. */
  advanceTo(t: number): void {
    const v = asTime(t);
    if (v === undefined) throw new InputError(`time ${JSON.stringify(t)} s is not a number of seconds >= 0`, 't');
    if (v < this.t) throw new InputError(`time ${v} s is earlier than the current ${this.t} s (time only moves forward)`, 't');
    this.t = v;
    this.collect(Math.round(v * 1000));
  }

  private collect(nowMs: number): void {
    if (nowMs > this.gcMs) { this.dp.gc(nowMs); this.gcMs = nowMs; }
  }

  /** One line of input: a record, an error record, a change record, or undefined for a blank line. */
  traceLine(text: string, line: number): TraceOutput | undefined {
    if (text.trim() === '') return undefined;
    let v: unknown;
    try {
      v = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (e) {
      return { line, error: `line ${line}: not JSON: ${(e as Error).message}` };
    }
    return this.step(v, line);
  }

  /** One packet, given as the parsed JSON object of an input line. */
  trace(input: unknown, line: number): TraceRecord | TraceError {
    return this.run([{ input, line }])[0];
  }

  /** One input line's parsed JSON: a packet, or a control line ({"apply": ...}, {"delete": ...}). */
  step(input: unknown, line: number): TraceOutput {
    if (isControl(input)) return this.guard<TraceOutput>(line, () => this.change(input, line));
    return this.trace(input, line);
  }

  private guard<T>(line: number, f: () => T): T | TraceError {
    try {
      return f();
    } catch (e) {
      if (e instanceof InputError) return { line, error: `line ${line}: ${e.message}` };
      throw e;
    }
  }

  /** A control line: apply or delete objects, or a node event, through the runtime, at time "t". */
  private change(o: Record<string, unknown>, line: number): TraceChange {
    const op = CONTROL_OPS.find((k) => k in o)!;
    const allowed = op === 'restart' ? ['restart', 'agent', 't'] : [op, 't'];
    const extra = Object.keys(o).filter((k) => !allowed.includes(k));
    if (extra.length) throw new InputError(`${op}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (a control line takes ${allowed.map((k) => `"${k}"`).join(', ')})`);
    const rt = this.source;
    const changeCluster = this.options.change ?? (rt instanceof ClusterRuntime ? (c: ClusterChange) => rt.change(c) : undefined);
    if (!changeCluster) throw new InputError(`${op}: this tracer's cluster cannot change (it was not created over a ClusterRuntime)`);
    const t = field(o, 't', asTime, 'a number of seconds >= 0', this.t);
    if (t < this.t) throw new InputError(`"t": ${t} is earlier than the previous line's ${this.t} (time only moves forward)`, 't');
    if (op === 'fail' || op === 'restart') {
      const node = o[op];
      if (typeof node !== 'string' || node === '') throw new InputError(`"${op}": ${showValue(node)} is not a node name`, op);
      const agent = o.agent;
      if (agent !== undefined && typeof agent !== 'boolean') throw new InputError(`"agent": ${showValue(agent)} is not true or false`, 'agent');
      this.t = t;
      this.collect(Math.round(t * 1000)); // expired flows first, as before a packet at t
      const report = changeCluster(op === 'fail' ? { op, node } : { op, node, ...(agent ? { agent: true } : {}) });
      return { line, t, applied: report };
    }
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
      throw new InputError(`${where}: ${showValue(v)} is not ${op === 'apply' ? 'a path' : 'a path or {"kind", "namespace", "name"}'}`);
    });
    let report: ApplyReport;
    try {
      // Read everything first: an unreadable path changes nothing.
      const read = this.options.readFiles;
      if (!read && targets.some((x) => typeof x === 'string')) throw new InputError(`${op}: this tracer cannot read files (give it readFiles)`);
      const cwd = this.options.cwd;
      const resolved = targets.map((x) => (typeof x === 'string' ? read!([cwd === undefined ? x : joinPath(cwd, x)]) : [x])).flat();
      // Expired flows are collected first, as before a packet at t.
      this.t = t;
      this.collect(Math.round(t * 1000));
      report = changeCluster(op === 'apply' ? { op, files: resolved as ManifestFile[] } : { op, targets: resolved });
    } catch (e) {
      if (e instanceof InputError) throw e;
      const msg = (e as Error).message;
      throw new InputError(msg.startsWith(`${op}: `) ? msg : `${op}: ${msg}`);
    }
    return { line, t, applied: report };
  }

  /**
   * Packets (parsed JSON objects) in order: each gets a record, or an error record when it is not a valid
   * packet (an error changes nothing). Consecutive packets of the same time go through the core in one
   * process() call.
   */
  run(items: readonly { input: unknown; line: number }[], errors: 'record' | 'throw' = 'record'): (TraceRecord | TraceError)[] {
    return this.runAs<TraceRecord | TraceError>(items, errors, (p, r) => this.record(p, r), (e) => e, (rec) => rec);
  }

  /** run() with each output as its JSON text (records by recordJson, which equals JSON.stringify of the record). */
  runJson(items: readonly { input: unknown; line: number }[]): { text: string; record: boolean }[] {
    return this.runAs<{ text: string; record: boolean }>(items, 'record', (p, r) => ({ text: this.recordJson(p, r), record: true }),
      (e) => ({ text: JSON.stringify(e), record: false }), (rec) => ({ text: JSON.stringify(rec), record: true }));
  }

  private runAs<T>(items: readonly { input: unknown; line: number }[], errors: 'record' | 'throw',
    ok: (p: ParsedPacket, r: PacketRecord) => T, bad: (e: TraceError) => T, answered: (rec: TraceRecord) => T): T[] {
    // Every packet is read first: with errors 'throw', a bad one stops the call before anything ran.
    const out: T[] = new Array(items.length);
    const parsed: ParsedPacket[] = [];
    const slots: number[] = [];
    const httpSteps = this.routeHttpAhead(items);
    let t = this.t;
    for (let i = 0; i < items.length; i++) {
      const { input, line } = items[i];
      try {
        const p = this.parse(input, line, t, httpSteps.get(i));
        t = p.t;
        if (p.answered) out[i] = answered(p.answered); // the Gateway or Ingress answered: no dataplane packet
        else { parsed.push(p); slots.push(i); }
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        if (errors === 'throw') throw new InputError(`packet ${i}: ${e.message}`, e.field === undefined ? undefined : `packets[${i}].${e.field}`);
        out[i] = bad({ line, error: `line ${line}: ${e.message}` });
      }
    }
    for (let a = 0; a < parsed.length; a += CHUNK) {
      const chunk = parsed.slice(a, a + CHUNK);
      const unresolved = this.process(chunk);
      for (let i = 0; i < chunk.length; i++) {
        const failed = unresolved?.get(i);
        out[slots[a + i]] = failed ? ok(failed.p, failed.r) : ok(chunk[i], this.batch.get(i));
      }
    }
    return out;
  }

  private readonly scanned: ScannedLine = newScannedLine();

  /**
   * JSON lines in, JSON texts out (records, error and change records), in order: traceTextsJson. A packet line
   * of the common shape (trace-scan.ts) is read without JSON.parse and checked here; when it reads and checks
   * clean, its packet goes straight into the batch; every other line (control lines, named endpoints, HTTP
   * requests, anything that would be an error) goes the plain way, so messages come from one place.
   */
  runLinesJson(lines: readonly { text: string; line: number }[], st: TraceStats, into?: RecordBytesSink): string[] {
    const out: string[] = [];
    let plain: { text: string; line: number }[] = [];
    let n = 0; // packets read the fast way, waiting in the batch (slots 0..n-1)
    let t0 = this.t;
    const flushPlain = () => {
      if (plain.length === 0) return;
      for (const s of traceLinesJson(this, plain, st)) if (into) into.write(s); else out.push(s);
      plain = [];
      t0 = this.t;
    };
    const flushFast = () => {
      if (n === 0) return;
      this.processFast(n);
      const r = this.scratchRecord ??= this.batch.get(0);
      for (let i = 0; i < n; i++) {
        if (into) this.recordBytesOf(into, this.fastLine[i], this.fastT[i], this.fastNode[i], this.batch.read(i, r), this.fastNodeId[i], this.fastSrc[i]);
        else out.push(this.recordJsonOf(this.fastLine[i], this.fastT[i], this.fastNode[i], this.batch.read(i, r), this.fastNodeId[i], this.fastSrc[i]));
        this.fastSrc[i] = '';
      }
      st.packets += n;
      n = 0;
    };
    for (let k = 0; k < lines.length; k++) {
      const { text, line } = lines[k];
      if (scanPacketLine(text, this.scanned)) {
        flushPlain();
        if (this.fastPacket(this.scanned, line, t0, n)) {
          t0 = this.fastT[n++];
          if (n === CHUNK) flushFast();
          continue;
        }
      } else if (isBlank(text)) continue;
      flushFast();
      plain.push(lines[k]);
    }
    flushFast();
    flushPlain();
    return out;
  }

  private readonly fastLine = new Float64Array(CHUNK);
  private readonly fastT = new Float64Array(CHUNK);
  private readonly fastNode: string[] = new Array(CHUNK).fill('');
  private readonly fastNodeId = new Int32Array(CHUNK);
  /** The source address as the line wrote it when that is its name, else ''. */
  private readonly fastSrc: string[] = new Array(CHUNK).fill('');
  private scratchRecord?: PacketRecord;

  /**
   * Read a scanned line's packet as parse() would into batch slot `slot` (with its line, time and node in
   * fastLine/fastT/fastNode); false wherever parse() would do more than read it (an error to report, a named
   * endpoint, a health-check answer): then the line goes the plain way.
   */
  private fastPacket(s: ScannedLine, line: number, t0: number, slot: number): boolean {
    const text = s.text;
    let proto: number = PROTO.TCP;
    if (s.protoAt >= 0) {
      const n = s.protoEnd - s.protoAt === 3 && text.startsWith('TCP', s.protoAt) ? PROTO.TCP
        : s.protoEnd - s.protoAt === 3 && text.startsWith('UDP', s.protoAt) ? PROTO.UDP : protocolNumber(s.proto!);
      if (n === undefined) return false;
      proto = n;
    }
    if (s.srcAt < 0 || s.dstAt < 0) return false;
    // addresses read in place; anything but a plain dotted quad through parseIPv4 as parse() would
    let src = dottedQuadAt(text, s.srcAt, s.srcEnd), dst = dottedQuadAt(text, s.dstAt, s.dstEnd);
    // the source as written is its name in the record (formatIPv4's form): sources are many, so not cached
    let srcName = '';
    if (src >= 0) srcName = text.slice(s.srcAt, s.srcEnd);
    else { const v = parseIPv4(s.src!); if (v === undefined) return false; src = v; }
    if (dst < 0) { const v = parseIPv4(s.dst!); if (v === undefined) return false; dst = v; }
    const ports = proto === PROTO.TCP || hasPorts(proto);
    let sport = s.sport, dport = s.dport;
    if (sport === undefined) { if (ports) return false; sport = 0; } else if (asPort(sport) === undefined) return false;
    if (dport === undefined) { if (ports) return false; dport = 0; } else if (asPort(dport) === undefined) return false;
    let tcpFlags = 0;
    if (proto === PROTO.TCP) {
      if (s.flagsAt < 0) tcpFlags = TCP.SYN; // "S", the default
      for (let i = s.flagsAt; i < s.flagsEnd; i++) { // parseTcpFlags' letters; any other: the plain way reports it
        const f = tcpFlagBit(text.charCodeAt(i));
        if (f === 0) return false;
        tcpFlags |= f;
      }
    } else if (s.flagsAt >= 0) return false;
    let t = t0;
    if (s.t !== undefined) { if (asTime(s.t) === undefined || s.t < t0) return false; t = s.t; }
    const cc = this.compiled;
    let nodeName: string, node: number;
    if (s.nodeAt >= 0) {
      const k = this.nodeSlot(cc, text, s.nodeAt, s.nodeEnd);
      if (k < 0) return false;
      nodeName = this.nodeNames[k]; node = this.nodeIds[k];
    } else {
      const n = this.entryNode(src, dst, dport, proto);
      if (n === undefined) return false;
      nodeName = n; node = cc.nodeIdByName.get(n)!;
    }
    if (this.healthAnswer(proto, false, dst, dport, nodeName)) return false;
    this.batch.write(slot, src, dst, sport, dport, proto, tcpFlags, node, 64);
    this.fastLine[slot] = line; this.fastT[slot] = t; this.fastNode[slot] = nodeName; this.fastNodeId[slot] = node;
    this.fastSrc[slot] = srcName;
    return true;
  }

  /**
   * Node names read in place: a direct-mapped table (256 slots by a hash of the name's characters) of the
   * names seen, with their node ids, for the current cluster; the slot of text[a..b)'s node, or -1 when it
   * names no node of the cluster.
   */
  private readonly nodeNames: string[] = new Array(256).fill('');
  private readonly nodeIds = new Int32Array(256).fill(-1);
  private nodesOf?: CompiledCluster;
  private nodeSlot(cc: CompiledCluster, text: string, a: number, b: number): number {
    if (this.nodesOf !== cc) { this.nodesOf = cc; this.nodeIds.fill(-1); this.nodeNames.fill(''); }
    let h = b - a;
    for (let i = a; i < b; i++) h = Math.imul(h, 31) + text.charCodeAt(i);
    const k = (Math.imul(h, 0x9e3779b1) >>> 24) & 255;
    const known = this.nodeNames[k];
    if (this.nodeIds[k] >= 0 && known.length === b - a && text.startsWith(known, a)) return k;
    const name = text.slice(a, b);
    const id = cc.nodeIdByName.get(name);
    if (id === undefined) return -1;
    this.nodeNames[k] = name; this.nodeIds[k] = id;
    return k;
  }

  /** Run the fast packets in the batch's slots 0..n-1 through the core: runs of equal time in one call each (process()). */
  private processFast(n: number): void {
    for (let a = 0; a < n;) {
      const t = this.fastT[a];
      this.t = t;
      const nowMs = Math.round(t * 1000);
      this.collect(nowMs);
      let b = a + 1;
      while (b < n && this.fastT[b] === t) b++;
      this.dp.process(a === 0 ? this.batch : this.batch.slice(a, b - a), b - a, nowMs);
      a = b;
    }
  }

  /** The node a packet without "node" enters on: see parse(); undefined when none can be told. */
  private entryNode(src: number, dst: number, dport: number, proto: number): string | undefined {
    const cc = this.compiled;
    const srcOwner = cc.owner(src);
    const dstOwner = cc.owner(dst);
    if (dstOwner && !dstOwner.pod && cc.frontend(dst, dport, proto)?.kind === 'NodePort') return dstOwner.node;
    if (srcOwner) return srcOwner.node;
    if (dstOwner) return dstOwner.node;
    return undefined;
  }

  /** kube-proxy's health check server answers a node's healthCheckNodePorts itself (src/k8s/health-check.ts). */
  private healthAnswer(proto: number, http: boolean, dst: number, dport: number, nodeName: string): HealthCheckAnswer | undefined {
    const cc = this.compiled;
    return proto === PROTO.TCP && !http && !cc.frontend(dst, dport, proto) && cc.owner(dst)?.pod === undefined
      ? healthCheckAnswer(cc.plan, cc.model, cc.owner(dst)?.node ?? nodeName, dst, dport) : undefined;
  }

  /** A packet object as a descriptor and the node name it enters on (InputError naming the field when invalid). */
  packet(input: unknown): { pkt: PacketIn; nodeName: string; t: number } {
    const p = this.parse(input, 0, this.t);
    return { pkt: p.pkt, nodeName: p.nodeName, t: p.t };
  }

  /** A processed descriptor as a record (for packets that went through the core elsewhere, e.g. a user's batch). */
  recordOf(r: PacketRecord, nodeName: string, line = 0): TraceRecord {
    return this.record({ line, t: this.t, nodeName, pkt: r }, r);
  }

  /** The fields every packet starts with (throws InputError naming the field). */
  private head(input: unknown, line: number) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InputError('expected a JSON object');
    const o = input as Record<string, unknown>;
    for (const k in o) {
      if (!KNOWN_FIELDS.has(k)) {
        const extra = Object.keys(o).filter((x) => !KNOWN_FIELDS.has(x));
        throw new InputError(`unknown field${extra.length > 1 ? 's' : ''} ${extra.slice(0, 5).map((x) => showValue(x)).join(', ')}${extra.length > 5 ? ', ...' : ''} (known: ${PACKET_FIELDS.join(', ')})`, extra[0]);
      }
    }
    const proto = field(o, 'proto', asProto, 'TCP, UDP, SCTP or ICMP', PROTO.TCP);
    // Endpoints may be named (pod/ns/name, deploy/ns/name; svc/ns/name:port, name:port): names.ts.
    let names: ParsedPacket['names'];
    let src: number, dst: number, namedPort: number | undefined, client: Pod | undefined, dns: ParsedPacket['dns'];
    // Addresses first (one parse each): a name is looked at only when the field is not an address.
    const srcIP = asIP(o.src), dstIP = asIP(o.dst);
    if (srcIP !== undefined) src = srcIP;
    else if (isName(o.src)) {
      const n = this.packetNames().source(o.src);
      src = n.addr; client = n.pod; names = { src: n.label };
    } else src = field(o, 'src', asIP, 'an IPv4 address or a pod (pod/ns/name, deploy/ns/name)');
    if (dstIP !== undefined) dst = dstIP;
    else if (isName(o.dst)) {
      const n = this.packetNames().destination(o.dst, PROTO_NAMES[proto], client);
      dst = n.addr; namedPort = n.port; names = { ...names, dst: n.label };
      if (n.dns) dns = { ...n.dns, sport: 32768 + ((line + 14116) % 28232) };
      if (o.dport !== undefined && o.dport !== n.port) throw new InputError(`"dport": ${showValue(o.dport)} differs from the port of "dst" (${n.port})`, 'dport');
    } else dst = field(o, 'dst', asIP, 'an IPv4 address, or a Service or DNS name with a port (svc/ns/name:port, name:port)');
    // ICMP has no ports (the descriptor's port fields stay 0).
    const sport = !hasPorts(proto) ? field(o, 'sport', asPort, 'a number 0..65535', 0) : field(o, 'sport', asPort, 'a port number 0..65535', names?.src ? 32768 + (line % 28232) : undefined);
    const dport = namedPort ?? (!hasPorts(proto) ? field(o, 'dport', asPort, 'a number 0..65535', 0) : field(o, 'dport', asPort, 'a port number 0..65535'));
    return { o, src, dst, proto, sport, dport, names, dns };
  }

  /**
   * The HTTP requests among packets, decided before the packets are read further: in one call to the core
   * (src/gateway/trace-hook.ts), in input order. A packet whose head or `http` field is bad is left to
   * parse(), which reports it.
   */
  private routeHttpAhead(items: readonly { input: unknown }[]): Map<number, HttpStep | null> {
    const at: number[] = [];
    const reqs: { dst: string; dport: number; req: HttpRequest }[] = [];
    items.forEach(({ input }, i) => {
      if (typeof input !== 'object' || input === null || (input as Record<string, unknown>).http === undefined) return;
      try {
        const h = this.head(input, 0);
        reqs.push({ dst: formatIPv4(h.dst), dport: h.dport, req: parseHttpField(h.o.http) });
        at.push(i);
      } catch { /* parse() reports it */ }
    });
    const steps = new Map<number, HttpStep | null>();
    if (reqs.length) routeHttpBatch(this.dp, this.compiled.model, reqs).forEach((s, k) => steps.set(at[k], s ?? null));
    return steps;
  }

  /**
   * Read one packet object (throws InputError naming the field). `t0`: the time of the packet before it;
   * `decided`: its HTTP request's step when routeHttpAhead decided it (null: nothing answers there).
   */
  private parse(input: unknown, line: number, t0: number, decided?: HttpStep | null): ParsedPacket {
    const h = this.head(input, line);
    const { o, src, proto, sport, names, dns } = h;
    let { dst, dport } = h;
    const cc = this.compiled;
    // North-south: an HTTP request is routed by its Gateway or Ingress first (src/gateway/trace-hook.ts).
    let http: HttpStep | undefined, httpDst: ParsedPacket['httpDst'], nodeGiven = o.node;
    if (o.http !== undefined) {
      if (decided !== undefined) http = decided ?? undefined;
      else try { http = routeHttpPacket(this.dp, cc.model, formatIPv4(dst), dport, o.http); } catch (e) { throw new InputError((e as Error).message, 'http'); }
      if (!http) throw new InputError(`"http": no Gateway listener or Ingress answers at ${formatIPv4(dst)}:${dport}`, 'http');
      httpDst = { dst: formatIPv4(dst), dport };
      if (!http.forward) {
        const t = field(o, 't', asTime, 'a number of seconds >= 0', t0);
        return { line, t, nodeName: typeof o.node === 'string' ? o.node : '', pkt: { saddr: src, daddr: dst, sport, dport, proto },
          answered: httpAnswered(line, t, typeof o.node === 'string' ? o.node : '', formatIPv4(src), sport, httpDst, http) };
      }
      dst = parseIPv4(http.forward.dst)!;
      dport = http.forward.dport;
      // The proxy forwards from the node the request enters on; the first node when none is named.
      if (nodeGiven === undefined && !cc.owner(src)) nodeGiven = [...cc.nodeIdByName.keys()][0];
    }
    let tcpFlags = 0;
    if (proto === PROTO.TCP) {
      const text = field(o, 'flags', (v) => (typeof v === 'string' ? v : undefined), 'a string of TCP flags (S, A, F, R, P)', 'S');
      try { tcpFlags = parseTcpFlags(text); } catch (e) { throw new InputError(`"flags": ${(e as Error).message}`, 'flags'); }
    } else if (o.flags !== undefined) {
      throw new InputError(`"flags" apply to TCP only, not ${PROTO_NAMES[proto]}`, 'flags');
    }
    const t = field(o, 't', asTime, 'a number of seconds >= 0', t0);
    if (t < t0) throw new InputError(`"t": ${t} is earlier than the previous packet's ${t0} (time only moves forward)`, 't');

    // The node the packet enters on.
    let nodeName: string;
    if (nodeGiven !== undefined) {
      if (typeof nodeGiven !== 'string' || !cc.nodeIdByName.has(nodeGiven)) {
        throw new InputError(`"node": ${showValue(nodeGiven)} is not a node of the cluster (${[...cc.nodeIdByName.keys()].join(', ')})`, 'node');
      }
      nodeName = nodeGiven;
    } else {
      const n = this.entryNode(src, dst, dport, proto);
      if (n !== undefined) nodeName = n;
      else throw new InputError(`"node" is required: ${formatIPv4(src)} is outside the cluster (no pod or node has it) and ${formatIPv4(dst)} belongs to no node, so name the node the packet enters on`, 'node');
    }
    const node = cc.nodeIdByName.get(nodeName)!;
    const health = this.healthAnswer(proto, http !== undefined, dst, dport, nodeName);
    if (health) {
      return { line, t, nodeName, pkt: { saddr: src, daddr: dst, sport, dport, proto }, answered: healthCheckAnswered(line, t, nodeName, formatIPv4(src), sport, formatIPv4(dst), dport, health) };
    }
    // One shape for every packet (names and dns undefined unless given): no spread, no dictionary-mode object.
    return { line, t, nodeName, pkt: { saddr: src, daddr: dst, sport, dport, proto, tcpFlags, node, len: 64 }, http, httpDst, names, dns };
  }

  /** Run parsed packets (at most CHUNK) through the core, runs of equal time in one call each; outcomes stay in the batch. */
  private process(packets: readonly ParsedPacket[]): Map<number, { p: ParsedPacket; r: PacketRecord }> | undefined {
    const batch = this.batch;
    let unresolved: Map<number, { p: ParsedPacket; r: PacketRecord }> | undefined;
    for (let i = 0; i < packets.length; i++) batch.set(i, packets[i].pkt);
    for (let a = 0; a < packets.length;) {
      const t = packets[a].t;
      this.t = t;
      const nowMs = Math.round(t * 1000);
      this.collect(nowMs);
      // A packet to a DNS name: the client's queries first, in order with the packets before it.
      if (packets[a].dns) {
        const failed = this.resolveByPackets(packets[a], nowMs);
        if (failed) { (unresolved ??= new Map()).set(a, failed); a++; continue; }
      }
      let b = a + 1;
      while (b < packets.length && packets[b].t === t && !packets[b].dns) b++;
      this.dp.process(a === 0 ? batch : batch.slice(a, b - a), b - a, nowMs);
      a = b;
    }
    return unresolved;
  }

  private dnsBatch?: PacketBatch;

  /**
   * The name lookup of a packet to a DNS name, as packets: for every name the client's resolver tries, a UDP
   * query from the client to the kube-dns Service (port 53) and the reply of the CoreDNS pod it reached,
   * through the dataplane (so an egress policy without a DNS allowance fails the lookup, as in a cluster).
   * Undefined when every query and reply went through; else the dropped one, whose record stands for the line.
   */
  private resolveByPackets(p: ParsedPacket, nowMs: number): { p: ParsedPacket; r: PacketRecord } | undefined {
    const d = p.dns!, cc = this.compiled;
    const b = (this.dnsBatch ??= this.dp.allocBatch(1));
    const step = (pkt: PacketIn, nodeName: string, what: string) => {
      b.set(0, pkt);
      this.dp.process(b, 1, nowMs);
      const r = b.get(0);
      if (r.verdict === VERDICT.FORWARDED) return { r };
      const names = { ...p.names, dst: `${p.names?.dst ?? ''}: not resolved, ${what} was ${VERDICT_NAMES[r.verdict] ?? r.verdict}` };
      return { failed: { p: { line: p.line, t: p.t, nodeName, pkt: r, names }, r } };
    };
    for (let q = 0; q < d.queries; q++) {
      const query = step({ saddr: p.pkt.saddr, daddr: d.server, sport: d.sport, dport: 53, proto: PROTO.UDP, node: p.pkt.node, len: 70 }, p.nodeName,
        `the DNS query ${q + 1} of ${d.queries} to ${formatIPv4(d.server)}:53`);
      if (query.failed) return query.failed;
      const r = query.r!;
      const owner = cc.owner(r.outDaddr);
      const node = owner ? cc.nodeIdByName.get(owner.node) ?? p.pkt.node ?? 0 : p.pkt.node ?? 0;
      const reply = step({ saddr: r.outDaddr, daddr: r.outSaddr, sport: r.outDport, dport: r.outSport, proto: PROTO.UDP, node, len: 130 }, owner?.node ?? p.nodeName,
        `the reply to DNS query ${q + 1} from ${formatIPv4(r.outDaddr)}:${r.outDport}`);
      if (reply.failed) return reply.failed;
    }
    return undefined;
  }

  // What record() and recordJson() derive from a processed descriptor, kept in fields rather than a fresh
  // object per packet (derive() sets them; both writers read them right after).
  private dEntry: PlannedService | undefined;
  private dFrontendKind = '';
  private dFrontendAddr = 0;
  private dFrontendPort = 0;
  private dBackend: PlannedBackend | undefined;
  private dDelivered: string | null = null;

  private derive(r: PacketRecord): void {
    const cc = this.compiled;
    const entry = r.service !== NONE ? cc.servicesByIndex.get(r.service) : undefined;
    this.dEntry = entry;
    if (entry) {
      // A reply leaves from the frontend the client talked to.
      const reply = r.ctState === CT_STATE.REPLY;
      this.dFrontendAddr = reply ? r.outSaddr : r.daddr;
      this.dFrontendPort = reply ? r.outSport : r.dport;
      this.dFrontendKind = cc.frontend(this.dFrontendAddr, this.dFrontendPort, r.proto)?.kind ?? 'unknown';
    }
    const b = r.backend !== NONE ? cc.backendsById.get(r.backend) : undefined;
    this.dBackend = b;
    this.dDelivered = r.verdict === VERDICT.FORWARDED
      ? cc.owner(r.outDaddr)?.node ?? (r.ctState !== CT_STATE.REPLY && b?.node !== undefined ? b.node : null)
      : null;
  }

  private readonly namesOf = new WeakMap<CompiledCluster, PacketNames>();
  private packetNames(): PacketNames {
    const cc = this.compiled;
    let n = this.namesOf.get(cc);
    if (!n) this.namesOf.set(cc, (n = new PacketNames(cc.model)));
    return n;
  }

  /** Cluster IPs of the current cluster, by address (for packets to a cluster IP that no Service port matched). */
  private readonly clusterIPsOf = new WeakMap<CompiledCluster, Map<number, Service[]>>();

  /**
   * Why a packet to a cluster IP was not translated: no port of the Service there matches its port and
   * protocol. kube-proxy then has no rule for it (iptables and IPVS modes route it on unchanged, with a cluster
   * IP no host owns; nftables mode rejects it, "Reject traffic to invalid ports of ClusterIPs"). Null for
   * every other packet.
   */
  private noServiceRule(r: PacketRecord): string | null {
    if (r.service !== NONE) return null;
    const cc = this.compiled;
    let ips = this.clusterIPsOf.get(cc);
    if (!ips) {
      ips = new Map();
      for (const svc of cc.model.services) {
        for (const ip of svc.clusterIPs) {
          const a = parseIPv4(ip)!;
          const l = ips.get(a);
          if (l) l.push(svc); else ips.set(a, [svc]);
        }
      }
      this.clusterIPsOf.set(cc, ips);
    }
    const svcs = ips.get(r.daddr);
    if (!svcs) return null;
    const ports = svcs.flatMap((s) => s.ports.map((p) => `${p.port}/${p.protocol}`)).join(', ');
    return `no Service port ${r.dport}/${PROTO_NAMES[r.proto]} at cluster IP ${formatIPv4(r.daddr)} (${svcs.map((s) => `${s.namespace}/${s.name}`).join(', ')} has ${ports}): ` +
      'no rule translates it; it is routed on with the cluster IP as destination, which no host owns';
  }

  /** The policy field (see TraceRecord.policy) of a processed descriptor. */
  private policyOf(r: PacketRecord): string | null {
    const cc = this.compiled, names = this.names;
    if (!cc.plan.policy) return null;
    return policyText(cc, r.policyRule, r.dropReason, r.ctState, r.verdict === VERDICT.FORWARDED && r.ctState === CT_STATE.NEW
      ? { src: names.get(r.saddr), dst: names.get(r.outDaddr), srcAfterSnat: names.get(r.outSaddr), protocol: PROTO_NAMES[r.proto] as Connection['protocol'], port: r.outDport }
      : undefined);
  }

  /** "ip:port" of each backend, made once (a backend object names one endpoint for good). */
  private readonly backendNames = new WeakMap<PlannedBackend, string>();
  private backendName(r: PacketRecord): string | null {
    const b = this.dBackend;
    if (!b) return r.backend !== NONE ? `#${r.backend}` : null;
    let n = this.backendNames.get(b);
    if (n === undefined) this.backendNames.set(b, (n = `${formatIPv4(b.addr)}:${b.port}`));
    return n;
  }

  /** The record of a processed packet. */
  private record(p: ParsedPacket, r: PacketRecord): TraceRecord {
    this.derive(r);
    const names = this.names, entry = this.dEntry, delivered = this.dDelivered;
    const proto = r.proto;
    const rec: TraceRecord = {
      line: p.line, t: p.t, node: p.nodeName, proto: PROTO_NAMES[proto], flags: proto === PROTO.TCP ? formatTcpFlags(r.tcpFlags) : null,
      in: { src: names.get(r.saddr), sport: r.sport, dst: names.get(r.daddr), dport: r.dport },
      verdict: VERDICT_NAMES[r.verdict] ?? String(r.verdict),
      drop_reason: r.dropReason ? DROP_REASON_NAMES[r.dropReason] ?? String(r.dropReason) : null,
      ct_state: CT_STATE_NAMES[r.ctState] ?? String(r.ctState),
      src: names.get(r.outSaddr), sport: r.outSport, dst: names.get(r.outDaddr), dport: r.outDport,
      nat: NAT_LISTS[r.natFlags & 31],
      service: entry?.label ?? null,
      frontend: entry
        ? { kind: this.dFrontendKind, address: `${names.get(this.dFrontendAddr)}:${this.dFrontendPort}`, scope: entry.scope, node: entry.node ?? null }
        : null,
      backend: this.backendName(r),
      delivered_node: delivered,
      cross_node: delivered !== null && delivered !== p.nodeName,
      rule: entry?.rule ?? this.noServiceRule(r),
      policy: this.policyOf(r),
      excluded: entry ? this.excluded(this.compiled, entry) : NO_EXCLUSIONS,
    };
    if (p.http) { rec.http = p.http.http; rec.in.dst = p.httpDst!.dst; rec.in.dport = p.httpDst!.dport; }
    if (p.names) rec.names = p.names;
    if (r.hopNode !== NODE_NONE) rec.hops = JSON.parse(this.hopsJson(p.nodeName, r)) as TraceHop[];
    return rec;
  }

  /** The hops of a packet processed on two nodes, as JSON (TraceRecord.hops). */
  private hopsJson(nodeName: string, r: PacketRecord): string {
    const cc = this.compiled;
    const second = cc.nodeNameById.get(r.hopNode) ?? `#${r.hopNode}`;
    const first = NAT_LIST_JSON[(r.natFlags & ~r.hopNatFlags) & 31]; // what the entry node did (natFlags holds both nodes')
    return `[{"node":${this.quote(nodeName)},"stage":"${CT_STATE_NAMES[r.ctState] ?? r.ctState}","verdict":"FORWARDED","nat":${first}},`
      + `{"node":${this.quote(second)},"stage":"${CT_STATE_NAMES[r.hopCtState] ?? r.hopCtState}","verdict":"${VERDICT_NAMES[r.hopVerdict] ?? r.hopVerdict}","nat":${NAT_LIST_JSON[r.hopNatFlags & 31]}}]`;
  }

  /**
   * The record of a processed packet as its JSON text: exactly JSON.stringify(record(p, r)) (a test holds
   * them equal), without making the object: the parts that repeat (names, the service's rule and exclusions,
   * NAT lists) are quoted once and kept, and addresses and the fixed names need no escaping. A field added
   * to TraceRecord must be added here too (the equality test names it).
   */
  private recordJson(p: ParsedPacket, r: PacketRecord): string {
    if (p.http || p.names) return JSON.stringify(this.record(p, r)); // a request, or named endpoints: written the plain way
    return this.recordJsonOf(p.line, p.t, p.nodeName, r);
  }

  private recordJsonOf(line: number, t: number, nodeName: string, r: PacketRecord, node = this.compiled.nodeIdByName.get(nodeName) ?? -1, srcName = ''): string {
    if (t !== this.tLast) { this.tLast = t; this.tText = `,"t":${t},`; }
    const text = '{"line":' + line + this.tText + this.recordRest(nodeName, r, node, srcName);
    return r.hopNode === NODE_NONE ? text : `${text.slice(0, -1)},"hops":${this.hopsJson(nodeName, r)}}`;
  }
  /** The `,"t":..,` of the last record's time (packets of a chunk mostly share it). */
  private tLast = -1;
  private tText = '';
  /** The same as bytes, for time tBytesOf (its own: the text and the bytes are made by different writers). */
  private tBytes = new Uint8Array(0);
  private tBytesOf = -1;

  /**
   * recordJsonOf written as bytes into `w`: the same pieces, in the same order, each copied from its cached
   * UTF-8 (bytesOf), numbers written as digits; byte for byte the text recordJsonOf makes (a test holds them
   * equal). A record's first packet of a connection (its tail is not cached) has its tail encoded in place.
   */
  private recordBytesOf(w: RecordBytesSink, line: number, t: number, nodeName: string, r: PacketRecord, node: number, srcName: string): void {
    if (t !== this.tBytesOf) { this.tBytesOf = t; this.tBytes = utf8.encode(`,"t":${t},`); }
    const names = this.names;
    const head = this.bytesOf(this.nodeProtoFlagsJson(nodeName, r.proto, r.tcpFlags));
    const src = srcName === '' ? this.bytesOf(names.srcPart(r.saddr)) : undefined;
    const dst = this.bytesOf(names.dstPart(r.daddr));
    const outcome = this.bytesOf(this.outcomeJson(r.verdict, r.dropReason, r.ctState));
    const outSrc = this.bytesOf(names.srcPart(r.outSaddr));
    const tail = this.tailJson(nodeName, r, node);
    const tailBytes = this.tailSlot >= 0 ? (this.tailBytes[this.tailSlot] ??= utf8.encode(tail)) : undefined;
    const hops = r.hopNode === NODE_NONE ? undefined : this.hopsBytes(nodeName, node, r);
    w.room(LINE_OPEN.length + 16 + this.tBytes.length + head.length + (src ? src.length : srcName.length + SPORT_KEY.length)
      + 2 * (6 + DST_KEY.length) + dst.length + 6 + outcome.length + outSrc.length
      + (tailBytes ? tailBytes.length : tail.length * 3) + (hops === undefined ? 0 : HOPS_KEY.length + hops.length) + 1);
    w.putBytes(LINE_OPEN); w.putUint(line); w.putBytes(this.tBytes); w.putBytes(head);
    if (src) w.putBytes(src); else { w.putAscii(srcName); w.putBytes(SPORT_KEY); }
    w.putUint(r.sport); w.putBytes(DST_KEY); w.putBytes(dst); w.putUint(r.dport);
    w.putBytes(outcome); w.putBytes(outSrc); w.putUint(r.outSport); w.putBytes(DST_KEY);
    if (hops === undefined) {
      if (tailBytes) w.putBytes(tailBytes); else w.putString(tail);
    } else { // the record's closing brace after the hops
      if (tailBytes) w.putBytes(tailBytes.subarray(0, tailBytes.length - 1)); else w.putString(tail.slice(0, -1));
      w.putBytes(HOPS_KEY); w.putBytes(hops); w.putAscii('}');
    }
    w.endLine();
  }

  /**
   * UTF-8 of hopsJson, kept per what it is made of: the entry node, the second node, both nodes' conntrack
   * states, the second's verdict and both nodes' NAT (a few combinations per pair of nodes).
   */
  private readonly hopsCache = new Map<number, Uint8Array>();
  private hopsOf?: CompiledCluster;
  private hopsBytes(nodeName: string, node: number, r: PacketRecord): Uint8Array {
    if (this.hopsOf !== this.compiled || node < 0) { this.hopsCache.clear(); this.hopsOf = this.compiled; }
    if (node < 0) return utf8.encode(this.hopsJson(nodeName, r)); // a node without an id: not kept
    const k = ((((node * 0x10000 + r.hopNode) * 8 + r.ctState) * 8 + r.hopCtState) * 4 + r.hopVerdict) * 1024 + (r.natFlags & 31) * 32 + (r.hopNatFlags & 31);
    let b = this.hopsCache.get(k);
    if (b === undefined) {
      if (this.hopsCache.size >= 1 << 16) this.hopsCache.clear();
      this.hopsCache.set(k, (b = utf8.encode(this.hopsJson(nodeName, r))));
    }
    return b;
  }

  /** UTF-8 of the tracer's cached pieces (head, address and outcome parts), kept by the piece's text. */
  private readonly pieceBytes = new Map<string, Uint8Array>();
  private bytesOf(piece: string): Uint8Array {
    let b = this.pieceBytes.get(piece);
    if (b === undefined) {
      if (this.pieceBytes.size >= 1 << 16) this.pieceBytes.clear();
      this.pieceBytes.set(piece, (b = utf8.encode(piece)));
    }
    return b;
  }

  /** A record's text after its "t" field: a function of the descriptor (its node names nodeName, id `node`) and the cluster. */
  private recordRest(nodeName: string, r: PacketRecord, node: number, srcName: string): string {
    const names = this.names;
    // pieces that carry the punctuation around them: 12 concatenations for a record (13 with srcName: the
    // packet's source as its line wrote it, which spares the table of names an address seen once)
    return this.nodeProtoFlagsJson(nodeName, r.proto, r.tcpFlags)
      + (srcName === '' ? names.srcPart(r.saddr) : srcName + '","sport":') + portBeforeDst(r.sport) + names.dstPart(r.daddr) + portText(r.dport)
      + this.outcomeJson(r.verdict, r.dropReason, r.ctState)
      + names.srcPart(r.outSaddr) + portBeforeDst(r.outSport) + this.tailJson(nodeName, r, node);
  }

  /** `"node":..,"proto":..,"flags":..,"in":{"src":"` of a record, made once per node, protocol and flags. */
  private readonly headParts = new Map<string, string[]>();
  private nodeProtoFlagsJson(nodeName: string, proto: number, tcpFlags: number): string {
    let byNode = this.headParts.get(nodeName);
    if (!byNode) { if (this.headParts.size >= 4096) this.headParts.clear(); this.headParts.set(nodeName, (byNode = [])); }
    const k = proto === PROTO.TCP ? tcpFlags & 0xff : 256 + proto;
    let j = byNode[k];
    if (j === undefined) {
      j = byNode[k] = `"node":${this.quote(nodeName)},"proto":"${PROTO_NAMES[proto]}",`
        + `"flags":${proto === PROTO.TCP ? `"${formatTcpFlags(tcpFlags)}"` : 'null'},"in":{"src":"`;
    }
    return j;
  }

  /** `},"verdict":..,"drop_reason":..,"ct_state":..,"src":"` of a record, made once per combination. */
  private readonly outcomeParts: string[] = [];
  private outcomeJson(verdict: number, dropReason: number, ctState: number): string {
    const k = (verdict << 16) | (dropReason << 8) | ctState;
    let j = this.outcomeParts[k];
    if (j === undefined) {
      j = this.outcomeParts[k] = `},"verdict":"${VERDICT_NAMES[verdict] ?? verdict}","drop_reason":${dropReason ? `"${DROP_REASON_NAMES[dropReason] ?? dropReason}"` : 'null'},`
        + `"ct_state":"${CT_STATE_NAMES[ctState] ?? ctState}","src":"`;
    }
    return j;
  }

  /**
   * A record's text from the outgoing packet's "dst" address to its end. It depends on that address and port,
   * the NAT done, the service entry, the backend, the frontend (the destination, or for a reply the source),
   * the outcome, the policy rule, the entry node and where the packet is delivered, all of them numbers of the
   * descriptor: so it is kept per such combination, for the current cluster (a new CompiledCluster starts
   * afresh), except for a new connection's first packet, whose policy text names its addresses. Packets of one
   * service, backend and node share one text.
   */
  // A two-way set-associative table (TAIL_SLOTS slots in pairs by a hash of the key; a new key takes the pair's
  // less recently used slot): a slot's key is TAIL_KEY numbers side by side in tailKeys, so a hit reads one
  // stretch of memory and makes nothing.
  private readonly tailKeys = new Uint32Array(TAIL_SLOTS * TAIL_KEY);
  private readonly tailTexts: string[] = new Array(TAIL_SLOTS).fill('');
  /** UTF-8 of tailTexts, made when a record is written as bytes (recordBytesOf). */
  private readonly tailBytes: (Uint8Array | undefined)[] = new Array(TAIL_SLOTS).fill(undefined);
  /** The slot tailJson's last text is kept in, or -1 (not cacheable). */
  private tailSlot = -1;
  private readonly tailUsed = new Uint8Array(TAIL_SLOTS);
  private tailsOf?: CompiledCluster;
  private tailJson(nodeName: string, r: PacketRecord, node: number): string {
    const cc = this.compiled;
    if (this.tailsOf !== cc) { this.tailUsed.fill(0); this.tailsOf = cc; }
    this.tailSlot = -1;
    // a new connection's policy text names its addresses (policyOf); without policies there is none to name them
    const cacheable = !(r.verdict === VERDICT.FORWARDED && r.ctState === CT_STATE.NEW && cc.plan.policy);
    const reply = r.ctState === CT_STATE.REPLY;
    // the key: everything the text is made from (see derive(), noServiceRule(), policyOf())
    const k0 = r.service >>> 0, k1 = r.backend >>> 0, k2 = r.daddr >>> 0, k3 = ((r.dport << 16) | (r.proto << 8) | r.verdict) >>> 0;
    const k4 = ((r.ctState << 24) | (r.dropReason << 16) | (node & 0xffff)) >>> 0, k5 = r.policyRule >>> 0, k6 = r.outDaddr >>> 0;
    const k7 = reply ? r.outSaddr >>> 0 : 0, k8 = reply ? r.outSport : 0, k9 = ((r.outDport << 8) | (r.natFlags & 31)) >>> 0;
    let slot = 0;
    if (cacheable) {
      let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b);
      h = Math.imul(h ^ k1, 0xc2b2ae35); h = Math.imul(h ^ k2, 0x85ebca6b); h = Math.imul(h ^ k3, 0xc2b2ae35);
      h = Math.imul(h ^ k4, 0x85ebca6b); h = Math.imul(h ^ k5, 0xc2b2ae35); h = Math.imul(h ^ k6, 0x85ebca6b);
      h = Math.imul(h ^ k7, 0xc2b2ae35); h = Math.imul(h ^ k8, 0x85ebca6b); h = Math.imul(h ^ k9, 0xc2b2ae35);
      h ^= h >>> 16;
      // two ways: the key may be in either slot of its pair
      const pair = h & (TAIL_SLOTS - 2), k = this.tailKeys, used = this.tailUsed;
      for (let s = pair; s < pair + 2; s++) {
        const o = s * TAIL_KEY;
        if (used[s] !== 0 && k[o] === k0 && k[o + 1] === k1 && k[o + 2] === k2 && k[o + 3] === k3 && k[o + 4] === k4
          && k[o + 5] === k5 && k[o + 6] === k6 && k[o + 7] === k7 && k[o + 8] === k8 && k[o + 9] === k9) {
          used[s] = 2; used[s ^ 1] = used[s ^ 1] === 0 ? 0 : 1; // s the more recent of the two
          this.tailSlot = s;
          return this.tailTexts[s];
        }
      }
      // a new key takes a free slot of the pair, else the less recently used one
      slot = used[pair] === 0 ? pair : used[pair + 1] === 0 ? pair + 1 : used[pair] === 1 ? pair : pair + 1;
    }
    this.derive(r);
    const names = this.names, q = this.quote, entry = this.dEntry, delivered = this.dDelivered;
    const backend = this.backendName(r);
    const text = names.dstPart(r.outDaddr) + portText(r.outDport) + NAT_JSON[r.natFlags & 31]
      + `"service":${entry ? q(entry.label) : 'null'},"frontend":${entry
        ? `{"kind":"${this.dFrontendKind}","address":"${names.get(this.dFrontendAddr)}:${this.dFrontendPort}","scope":"${entry.scope}","node":${entry.node === undefined ? 'null' : q(entry.node)}}`
        : 'null'},`
      + `"backend":${backend === null ? 'null' : `"${backend}"`},"delivered_node":${delivered === null ? 'null' : q(delivered)},`
      + `"cross_node":${delivered !== null && delivered !== nodeName},`
      + `"rule":${q(entry ? entry.rule : this.noServiceRule(r))},"policy":${q(this.policyOf(r))},"excluded":${entry ? this.jsonOf(this.excluded(cc, entry)) : '[]'}}`;
    if (cacheable) {
      const k = this.tailKeys, o = slot * TAIL_KEY;
      k[o] = k0; k[o + 1] = k1; k[o + 2] = k2; k[o + 3] = k3; k[o + 4] = k4; k[o + 5] = k5; k[o + 6] = k6; k[o + 7] = k7; k[o + 8] = k8; k[o + 9] = k9;
      this.tailTexts[slot] = text; this.tailBytes[slot] = undefined; this.tailUsed[slot] = 2; this.tailSlot = slot;
      if (this.tailUsed[slot ^ 1] !== 0) this.tailUsed[slot ^ 1] = 1;
    }
    return text;
  }


  /** JSON of strings, cached (records repeat the same names, rules and policy texts). */
  private readonly quoted = new Map<string, string>();
  private readonly quote = (s: string | null): string => {
    if (s === null) return 'null';
    let j = this.quoted.get(s);
    if (j === undefined) {
      if (this.quoted.size >= 1 << 16) this.quoted.clear();
      j = JSON.stringify(s);
      this.quoted.set(s, j);
    }
    return j;
  };
  /** JSON of the shared, frozen lists of records (NAT names, exclusions), cached by identity. */
  private readonly listJson = new WeakMap<object, string>();
  private jsonOf(list: readonly unknown[]): string {
    let j = this.listJson.get(list);
    if (j === undefined) {
      j = JSON.stringify(list);
      if (Object.isFrozen(list)) this.listJson.set(list, j);
    }
    return j;
  }

  /** The endpoints a service entry's port leaves out and why (the same list for every packet: made once, frozen). */
  private excluded(cc: CompiledCluster, entry: PlannedService): TraceExcluded[] {
    const known = this.excludedOf.get(entry);
    if (known) return known;
    const port = cc.servicePort(entry);
    if (!port) return NO_EXCLUSIONS;
    let list = this.excludedOf.get(port);
    if (!list) {
      list = port.eligible.excluded.map((x) => {
        const e = x.endpoint;
        const ep = 'port' in e ? `${e.address}:${e.port}` : e.address ?? null;
        const target = 'port' in e && e.targetRef ? e.targetRef.name : null;
        return Object.freeze({ endpoint: ep, target, slice: e.slice, reason: x.reason, why: EXCLUSION_TEXT[x.reason] });
      });
      Object.freeze(list);
      this.excludedOf.set(port, list);
    }
    this.excludedOf.set(entry, list);
    return list;
  }
}

/** The record of a request the Gateway or Ingress answered itself (404, 500, 503, a redirect): no dataplane packet. */
function httpAnswered(line: number, t: number, node: string, src: string, sport: number, to: { dst: string; dport: number }, h: HttpStep): TraceRecord {
  return {
    line, t, node, proto: 'TCP', flags: null,
    in: { src, sport, dst: to.dst, dport: to.dport }, verdict: 'ANSWERED_BY_PROXY', drop_reason: null, ct_state: 'NONE',
    src, sport, dst: to.dst, dport: to.dport, nat: [], service: null, frontend: null, backend: null, delivered_node: null,
    cross_node: false, rule: null, policy: null, excluded: [], http: h.http,
  };
}

/** The record of a packet kube-proxy's health check server answered (no dataplane packet). */
function healthCheckAnswered(line: number, t: number, node: string, src: string, sport: number, dst: string, dport: number, h: HealthCheckAnswer): TraceRecord {
  return {
    line, t, node, proto: 'TCP', flags: null,
    in: { src, sport, dst, dport }, verdict: 'ANSWERED_BY_PROXY', drop_reason: null, ct_state: 'NONE',
    src, sport, dst, dport, nat: [], service: h.service, frontend: null, backend: null, delivered_node: node,
    cross_node: false, rule: `healthCheckNodePort: ${h.status} (${h.localEndpoints} local ready endpoint${h.localEndpoints === 1 ? '' : 's'})`,
    policy: null, excluded: [], health_check: h,
  };
}

/** The keys that make a line a control line. */
const CONTROL_OPS = ['apply', 'delete', 'fail', 'restart'] as const;

/** Whether a parsed input line is a control line: exactly one of {"apply"}, {"delete"}, {"fail"}, {"restart"}. */
export const isControl = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  let n = 0;
  for (const k of CONTROL_OPS) if (k in v) n++;
  return n === 1;
};

/**
 * Input lines (JSON text) in order: one output per non-blank line. Consecutive packet lines go through the
 * core together (Tracer.run); a control line takes effect between the packets around it.
 */
export function traceTexts(tracer: Tracer, lines: readonly { text: string; line: number }[]): TraceOutput[] {
  return traceLinesAs<TraceOutput>(tracer, lines, (packets, out) => { for (const r of tracer.run(packets)) out.push(r); }, (r) => r);
}

/** What a trace produced, by kind. */
export interface TraceStats { packets: number; errors: number; changes: number }

/** traceTexts with each output as its JSON text (records through Tracer.runJson), counted into `stats`. */
export function traceTextsJson(tracer: Tracer, lines: readonly { text: string; line: number }[], stats?: TraceStats, into?: RecordBytesSink): string[] {
  return tracer.runLinesJson(lines, stats ?? { packets: 0, errors: 0, changes: 0 }, into);
}

/** traceTextsJson the plain way: every line through JSON.parse (Tracer.runLinesJson sends it what it does not read itself). */
export function traceLinesJson(tracer: Tracer, lines: readonly { text: string; line: number }[], st: TraceStats): string[] {
  return traceLinesAs<string>(tracer, lines,
    (packets, out) => { for (const r of tracer.runJson(packets)) { out.push(r.text); if (r.record) st.packets++; else st.errors++; } },
    (r) => { if ('error' in r) st.errors++; else st.changes++; return JSON.stringify(r); });
}

/** Lines in order: runs of packet lines through `runPackets`, control lines and unreadable lines through `as`. */
function traceLinesAs<T>(tracer: Tracer, lines: readonly { text: string; line: number }[],
  runPackets: (packets: { input: unknown; line: number }[], out: T[]) => void, as: (r: TraceChange | TraceError) => T): T[] {
  const out: T[] = [];
  let packets: { input: unknown; line: number }[] = [];
  const flush = () => {
    if (packets.length === 0) return;
    runPackets(packets, out);
    packets = [];
  };
  for (const { text, line } of lines) {
    if (isBlank(text)) continue;
    let v: unknown;
    try {
      v = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text); // a byte-order mark before the first line
    } catch (e) {
      flush();
      out.push(as({ line, error: `line ${line}: not JSON: ${(e as Error).message}` }));
      continue;
    }
    if (isControl(v)) { flush(); out.push(as(tracer.step(v, line) as TraceChange | TraceError)); } else packets.push({ input: v, line });
  }
  flush();
  return out;
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 0xfeff) return false;
  }
  return true;
}

const NO_EXCLUSIONS: TraceExcluded[] = Object.freeze([]) as unknown as TraceExcluded[];

/** `dir` + `/` + `path`, unless `path` is absolute (no node:path: the tracer runs in browsers too). */
function joinPath(dir: string, path: string): string {
  return path.startsWith('/') ? path : `${dir.replace(/\/+$/, '')}/${path}`;
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

