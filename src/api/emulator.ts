// The library API: one emulated cluster behind a small facade (src/api/types.ts says what each method
// promises). Built from the pieces the CLI uses: a Dataplane (the wasm core or the reference), a
// ClusterRuntime (Kubernetes objects -> maps, apply/delete of differences) and a Tracer (packets ->
// explained records). Browser-safe: nothing here names a node: module; where the core comes from is the
// entry's business (src/index.ts fetches it by URL, src/index.node.ts reads it from the package).

import { httpDrawState, setHttpDrawState } from '../gateway/trace-hook.js';
import { Dataplane, Options, Limits, DEFAULT_LIMITS, resolveOptions, DESIGN_NAMES, ALGO_NAMES, IDENTITY } from '../dataplane.js';
import { DataplaneError, DpemuError, InputError } from '../errors.js';
import { WasmDataplane } from '../wasm.js';
import { ReferenceDataplane } from '../reference/dataplane.js';
import { ClusterRuntime, ObjectRef, ApplyReport, PreparedApply } from '../k8s/runtime.js';
import { CompileOptions, limitsForModel } from '../k8s/compile.js';
import { LoadOptions, ManifestFile } from '../k8s/load.js';
import { Tracer, TraceRecord, TraceOutput, TraceStats, RecordBytesSink, traceTexts, traceTextsJson } from '../tracer.js';
import type { Diagnostic } from '../k8s/model.js';
import { formatIPv4 } from '../common/ip.js';
import { PROTO_NAMES, PacketBatch, NONE, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE_NAMES, PROTO } from '../packet.js';
import type {
  Emulator, EmulatorOptions, EmulatorBatch, BatchOutcome, PacketInput, FlowRecord, ManifestInput, ConntrackEntry, ServiceInfo,
  BackendInfo, CoreSource, Design, ManifestText, TraceOptions, PolicyRuleInfo, EndpointAddress, EmulatorCapacity,
} from './types.js';
import { formatRuleInfo } from '../policy/explain.js';
import { ControlEntry, SnapshotContent, encodeSnapshot, decodeSnapshot } from './snapshot.js';

/** Where an entry gets the core when the caller gives none. */
export type CoreLoader = () => Promise<WebAssembly.Module>;
/** How an entry starts a dataplane whose batches worker threads share (Node: src/node.ts createWorkerDataplane). */
export type WorkerStarter = (options: Options, workers: number) => Promise<Dataplane>;

const OPTION_NAMES = new Set<string>([
  'design', 'backend', 'wasm', 'seed', 'hashSeed', 'algo', 'maglevTableSize', 'flows', 'limits', 'cluster', 'ctLifetimes', 'natPorts', 'masqueradeAll',
  'serviceCIDR', 'clusterCIDR', 'nodePortRange', 'defaultNodes', 'lbPool', 'nodePortAddresses', 'localhostNodePorts', 'affinityScope', 'policyRecheckEstablished', 'policyAllowSelf',
  'policyEgressToOwnNode', 'ipBlockMatchesPods', 'workers',
]);

/** The compiled core for a source the caller gave (bytes, a module, a Response, or a URL to fetch). */
export async function compileCore(source: CoreSource): Promise<WebAssembly.Module> {
  try {
    if (source instanceof WebAssembly.Module) return source;
    if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return await WebAssembly.compile(source as BufferSource);
    const response = typeof Response !== 'undefined' && source instanceof Response ? source : await fetch(source as URL | string);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${response.url || String(source)}`);
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw new InputError(`option wasm: could not load the core: ${(e as Error).message}`, 'wasm');
  }
}

/** A name of the packet's protocol for records. */
const protoName = (p: number) => PROTO_NAMES[p] ?? String(p);

/** What the options say, split by the part of dpemu that takes them. */
interface SplitOptions {
  dataplane: Options;
  compile: CompileOptions;
  load: LoadOptions;
}

function splitOptions(o: EmulatorOptions): SplitOptions {
  if (typeof o !== 'object' || o === null) throw new InputError('options must be an object', 'options');
  for (const k of Object.keys(o)) {
    if (!OPTION_NAMES.has(k)) throw new InputError(`unknown option ${JSON.stringify(k)} (known: ${[...OPTION_NAMES].join(', ')})`, k);
  }
  if (o.design !== undefined && !(DESIGN_NAMES as readonly string[]).includes(o.design)) {
    throw new InputError(`option design: ${JSON.stringify(o.design)} is not one of ${DESIGN_NAMES.join(', ')}`, 'design');
  }
  if (o.backend !== undefined && o.backend !== 'wasm' && o.backend !== 'reference') {
    throw new InputError(`option backend: ${JSON.stringify(o.backend)} is not wasm or reference`, 'backend');
  }
  if (o.algo !== undefined && !(ALGO_NAMES as readonly string[]).includes(o.algo)) {
    throw new InputError(`option algo: ${JSON.stringify(o.algo)} is not one of ${ALGO_NAMES.join(', ')}`, 'algo');
  }
  if (o.flows !== undefined && !(Number.isInteger(o.flows) && o.flows >= 1 && o.flows <= 1 << 26)) {
    throw new InputError(`option flows: ${JSON.stringify(o.flows)} is not an integer in 1..${1 << 26}`, 'flows');
  }
  if (o.workers !== undefined && !(Number.isInteger(o.workers) && o.workers >= 1 && o.workers <= 64)) {
    throw new InputError(`option workers: ${JSON.stringify(o.workers)} is not an integer in 1..64`, 'workers');
  }
  if (o.localhostNodePorts !== undefined && typeof o.localhostNodePorts !== 'boolean') {
    throw new InputError(`option localhostNodePorts: ${JSON.stringify(o.localhostNodePorts)} is not true or false`, 'localhostNodePorts');
  }
  if (o.affinityScope !== undefined && o.affinityScope !== 'service-port' && o.affinityScope !== 'entry') {
    throw new InputError(`option affinityScope: ${JSON.stringify(o.affinityScope)} is not 'service-port' or 'entry'`, 'affinityScope');
  }
  const compile: CompileOptions = {
    algo: o.algo, design: o.design, masqueradeAll: o.masqueradeAll ?? false, nodePortAddresses: o.nodePortAddresses, maglevTableSize: o.maglevTableSize,
    localhostNodePorts: o.localhostNodePorts, affinityScope: o.affinityScope,
    policyKnobs: o.ipBlockMatchesPods === undefined ? undefined : { ipBlockMatchesPods: o.ipBlockMatchesPods },
  };
  const load: LoadOptions = { serviceCIDR: o.serviceCIDR, clusterCIDR: o.clusterCIDR, nodePortRange: o.nodePortRange, defaultNodes: o.defaultNodes, lbPool: o.lbPool };
  const dataplane: Options = {
    design: o.design, seed: o.seed, hashSeed: o.hashSeed, ctLifetimes: o.ctLifetimes, natPorts: o.natPorts,
    policyRecheckEstablished: o.policyRecheckEstablished, policyAllowSelf: o.policyAllowSelf, policyEgressToOwnNode: o.policyEgressToOwnNode,
  };
  try {
    resolveOptions(dataplane); // the dataplane's own checks, with their words
  } catch (e) {
    if (e instanceof DataplaneError) throw new InputError(e.message, e.message.match(/^option (\w+)/)?.[1]);
    throw e;
  }
  return { dataplane, compile, load };
}

/** Manifest input as the runtime's files: text as one file, objects as decoded documents. */
function manifestFiles(input: ManifestInput, source: string | undefined): ManifestFile[] {
  if (typeof input === 'string') return [{ path: source ?? 'input', text: input }];
  const docs = Array.isArray(input) ? input : [input];
  for (const [i, d] of docs.entries()) {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new InputError(`object ${i}: not a Kubernetes object`, `input[${i}]`);
  }
  return [{ path: source ?? 'objects', text: '', documents: [...docs] }];
}

const isFileSet = (c: unknown): c is { files: readonly ManifestText[] } =>
  typeof c === 'object' && c !== null && !Array.isArray(c) && 'files' in c && !('kind' in c);

/** Files as the caller gave them, checked and copied (so that the log keeps them as they were). */
function checkFiles(files: readonly ManifestText[]): ManifestFile[] {
  if (!Array.isArray(files)) throw new InputError('files must be a list of {path, text}', 'files');
  return files.map((f, i) => {
    if (typeof f !== 'object' || f === null || typeof f.path !== 'string' || typeof f.text !== 'string') {
      throw new InputError(`files[${i}]: expected {path: string, text: string}`, `files[${i}]`);
    }
    return { path: f.path, text: f.text };
  });
}

/** Map capacities: the defaults, raised to fit an initial cluster (its first apply, prepared), then the caller's. */
function limitsFor(o: EmulatorOptions, split: SplitOptions, initial: PreparedApply | undefined): Limits {
  const flows = o.flows ?? 65536;
  const limits: Limits = { ...DEFAULT_LIMITS, maxFlows: Math.max(1024, Math.ceil(flows * 1.25)) };
  if (initial) {
    const sized = limitsForModel(initial.loaded.model, flows, split.compile);
    for (const k of Object.keys(limits) as (keyof Limits)[]) limits[k] = Math.max(limits[k], sized[k]);
  }
  // Per-node state in enough shards for the workers asked for (a power of two; workers own whole shards), the
  // capacities split between them.
  limits.shards = Math.max(limits.shards, 2 ** Math.ceil(Math.log2(o.workers ?? 1)));
  if (o.limits !== undefined) {
    if (typeof o.limits !== 'object' || o.limits === null) throw new InputError('option limits must be an object', 'limits');
    for (const [k, v] of Object.entries(o.limits)) {
      if (!(k in DEFAULT_LIMITS)) throw new InputError(`option limits.${k}: not a map capacity (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`, `limits.${k}`);
      limits[k as keyof Limits] = v as number;
    }
  }
  return limits;
}

/** Options as a snapshot keeps them: everything but the core and the initial cluster (which is in the log). */
type StoredOptions = Omit<EmulatorOptions, 'wasm' | 'cluster'> & { limits: Limits };

class EmulatorImpl implements Emulator {
  private readonly listeners = new Set<(r: FlowRecord) => void>();
  private readonly log: ControlEntry[] = [];
  private sequence = 0;
  /** Lines given to trace() so far (the default line numbers of the next ones). */
  private traced = 0;

  constructor(
    readonly dp: Dataplane,
    readonly runtime: ClusterRuntime,
    readonly tracer: Tracer,
    private readonly stored: StoredOptions,
    private readonly buildId: number | null,
  ) {}

  get design(): Design { return this.dp.options.design; }
  get backend(): 'wasm' | 'reference' { return this.dp.kind; }
  get now(): number { return this.tracer.time; }

  apply(input: ManifestInput, options: { source?: string } = {}): ApplyReport {
    return this.replay({ op: 'apply', files: manifestFiles(input, options.source) });
  }

  applyFiles(files: readonly ManifestText[]): ApplyReport {
    return this.replay({ op: 'apply', files: checkFiles(files) });
  }

  deleteFiles(files: readonly ManifestText[]): ApplyReport {
    return this.replay({ op: 'delete', targets: checkFiles(files) });
  }

  /** A control-plane change (kept in the log that snapshots carry, once it has taken effect). */
  replay(entry: ControlEntry, prepared?: PreparedApply): ApplyReport {
    const report = entry.op === 'apply' && prepared ? this.runtime.apply(entry.files, prepared) : this.runtime.change(entry);
    this.log.push(entry);
    return report;
  }

  delete(refs: ObjectRef | readonly ObjectRef[] | ManifestInput): ApplyReport {
    const targets: (ObjectRef | ManifestFile)[] = typeof refs === 'string'
      ? manifestFiles(refs, undefined)
      : (Array.isArray(refs) ? refs : [refs]).map((r, i) => {
        const o = r as Record<string, unknown>;
        if (typeof o !== 'object' || o === null) throw new InputError(`delete: item ${i} is not an object reference`, `refs[${i}]`);
        if ('apiVersion' in o || 'metadata' in o) return manifestFiles(o, undefined)[0];
        if (typeof o.kind !== 'string' || typeof o.name !== 'string') throw new InputError(`delete: item ${i} needs "kind" and "name"`, `refs[${i}]`);
        return { kind: o.kind, name: o.name, ...(typeof o.namespace === 'string' ? { namespace: o.namespace } : {}) };
      });
    return this.replay({ op: 'delete', targets });
  }

  failNode(name: string): ApplyReport {
    if (typeof name !== 'string' || name === '') throw new InputError(`failNode: ${JSON.stringify(name)} is not a node name`, 'name');
    return this.replay({ op: 'fail', node: name });
  }

  restartNode(name: string, options: { agent?: boolean } = {}): ApplyReport {
    if (typeof name !== 'string' || name === '') throw new InputError(`restartNode: ${JSON.stringify(name)} is not a node name`, 'name');
    return this.replay({ op: 'restart', node: name, ...(options.agent ? { agent: true } : {}) });
  }

  send(packets: PacketInput | readonly PacketInput[]): FlowRecord[] {
    const list = Array.isArray(packets) ? packets : [packets];
    const base = this.sequence;
    const out = this.tracer.run(list.map((input, i) => ({ input, line: base + i + 1 })), 'throw') as TraceRecord[];
    this.sequence += list.length;
    this.emit(out);
    return out;
  }

  trace(lines: readonly (string | { text: string; line: number })[], options: TraceOptions = {}): TraceOutput[] {
    return this.traceWith(lines, options, (items) => {
      const out = traceTexts(this.tracer, items);
      const records = out.filter((r): r is TraceRecord => 'verdict' in r);
      this.sequence += records.length;
      this.emit(records);
      return out;
    });
  }

  traceJson(lines: readonly (string | { text: string; line: number })[], options: TraceOptions = {}, stats?: TraceStats): string[] {
    return this.traceWith(lines, options, (items) => {
      const counted = stats ?? { packets: 0, errors: 0, changes: 0 };
      const before = counted.packets;
      const out = traceTextsJson(this.tracer, items, counted);
      this.sequence += counted.packets - before;
      if (this.listeners.size) this.emit(out.map((t) => JSON.parse(t) as TraceOutput).filter((r): r is TraceRecord => 'verdict' in r));
      return out;
    });
  }

  /**
   * traceJson() with its output lines written into `into` (the CLI's block writer) instead of returned: records
   * of the common shape go in as bytes, without a string each. With flow listeners, as traceJson() and written.
   */
  traceJsonInto(lines: readonly (string | { text: string; line: number })[], into: RecordBytesSink, options: TraceOptions = {}, stats?: TraceStats): void {
    if (this.listeners.size) { for (const s of this.traceJson(lines, options, stats)) into.write(s); return; }
    this.traceWith(lines, options, (items) => {
      const counted = stats ?? { packets: 0, errors: 0, changes: 0 };
      const before = counted.packets;
      traceTextsJson(this.tracer, items, counted, into);
      this.sequence += counted.packets - before;
    });
  }

  private traceWith<T>(lines: readonly (string | { text: string; line: number })[], options: TraceOptions, run: (items: { text: string; line: number }[]) => T): T {
    if (!Array.isArray(lines)) throw new InputError('trace: lines must be a list of strings', 'lines');
    const first = this.traced;
    const items = lines.map((l, i) => (typeof l === 'string' ? { text: l, line: first + i + 1 } : l));
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (typeof it !== 'object' || it === null || typeof it.text !== 'string' || !Number.isInteger(it.line)) throw new InputError(`trace: line ${i} is not a string`, `lines[${i}]`);
    }
    if (items.length) this.traced = Math.max(first, items[items.length - 1].line);
    const saved = { readFiles: this.tracer.options.readFiles, cwd: this.tracer.options.cwd };
    this.tracer.options.readFiles = options.readFiles
      ? (paths) => checkFiles(options.readFiles!(paths))
      : undefined;
    this.tracer.options.cwd = options.cwd;
    try {
      return run(items);
    } finally {
      Object.assign(this.tracer.options, saved);
    }
  }

  warnings(): Diagnostic[] {
    return [...this.runtime.warnings, ...this.runtime.compiled.warnings.map((message): Diagnostic => ({ severity: 'warning', code: 'compile', message }))];
  }

  private emit(records: readonly FlowRecord[]): void {
    if (this.listeners.size === 0) return;
    for (const r of records) for (const l of this.listeners) l(r);
  }

  advance(seconds: number): void {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
      throw new InputError(`advance: ${JSON.stringify(seconds)} is not a number of seconds >= 0`, 'seconds');
    }
    this.tracer.advanceTo(this.tracer.time + seconds);
  }

  createBatch(capacity: number): EmulatorBatch {
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= 1 << 24)) {
      throw new InputError(`createBatch: capacity ${JSON.stringify(capacity)} is not an integer in 1..${1 << 24}`, 'capacity');
    }
    return new Batch(this.dp.allocBatch(capacity), this.tracer, this);
  }

  process(batch: EmulatorBatch, count: number): number {
    if (!(batch instanceof Batch) || batch.owner !== this) throw new InputError('process: the batch was not made by this emulator\'s createBatch()', 'batch');
    if (!(Number.isInteger(count) && count >= 0 && count <= batch.capacity)) {
      throw new InputError(`process: count ${JSON.stringify(count)} is not in 0..${batch.capacity}`, 'count');
    }
    return this.dp.process(batch.raw, count, Math.round(this.tracer.time * 1000));
  }

  counters() { return this.dp.counters(); }

  conntrack(): ConntrackEntry[] {
    const nowMs = Math.round(this.tracer.time * 1000);
    const cc = this.runtime.compiled;
    const flows = this.dp.liveFlows(nowMs);
    // One order whatever the backend keeps them in: by original tuple.
    flows.sort((a, b) => a.saddr - b.saddr || a.daddr - b.daddr || a.sport - b.sport || a.dport - b.dport || a.proto - b.proto || a.node - b.node);
    return flows.map((f) => {
      const i = f.info;
      const svc = i.service !== NONE ? cc.servicesByIndex.get(i.service) : undefined;
      const b = i.backend !== NONE ? cc.backendsById.get(i.backend) : undefined;
      const closing = (i.state & 6) === 6, established = (i.state & 1) !== 0; // CTF_* bits (assembly/conntrack.ts)
      return {
        src: formatIPv4(f.saddr), sport: f.sport, dst: formatIPv4(f.daddr), dport: f.dport, proto: protoName(f.proto),
        nat: { src: formatIPv4(i.natSaddr), sport: i.natSport, dst: formatIPv4(i.natDaddr), dport: i.natDport },
        node: cc.nodeNameById.get(f.node) ?? `#${f.node}`,
        service: svc?.label ?? null, backend: b ? `${formatIPv4(b.addr)}:${b.port}` : null,
        state: f.proto !== PROTO.TCP ? 'OPEN' : closing ? 'CLOSING' : established ? 'ESTABLISHED' : 'SYN_SENT',
        expires: i.expires / 1000, packets: i.packets, bytes: i.bytes,
      };
    });
  }

  services(): ServiceInfo[] {
    const cc = this.runtime.compiled;
    const plan = cc.plan;
    const frontends = new Map<string, ServiceInfo['frontends']>();
    for (const fe of plan.frontends.values()) {
      let l = frontends.get(fe.service);
      if (!l) frontends.set(fe.service, (l = []));
      l.push({ address: `${formatIPv4(fe.addr)}:${fe.port}/${fe.protocol}`, kind: fe.kind, scope: fe.scope, node: fe.node ?? null });
    }
    return [...plan.services.values()].sort((a, b) => a.index - b.index).map((s) => ({
      service: s.label,
      index: s.index,
      scope: s.scope,
      node: s.node ?? null,
      frontends: frontends.get(s.key) ?? [],
      backends: s.backends.map((id) => { const b = cc.backendsById.get(id); return b ? `${formatIPv4(b.addr)}:${b.port}` : `#${id}`; }),
      algorithm: plan.options.algo,
      rule: s.rule,
    }));
  }

  backends(): BackendInfo[] {
    const cc = this.runtime.compiled;
    return [...cc.plan.backends.values()].sort((a, b) => a.id - b.id).map((b) => ({
      backend: `${formatIPv4(b.addr)}:${b.port}`, id: b.id, protocol: b.protocol, node: b.node ?? null, pod: b.target ?? null,
      activeFlows: this.dp.backendActive(b.id),
    }));
  }

  policyRules(): PolicyRuleInfo[] {
    const rules = this.runtime.compiled.plan.policy?.rules;
    if (!rules) return [];
    return [...rules.entries()].sort((a, b) => a[0] - b[0]).map(([id, info]) => {
      const text = formatRuleInfo(info);
      if (info.kind === 'isolated') {
        return { id, text, direction: info.direction, action: 'Isolated', policies: info.policies.map((p) => {
          const slash = p.indexOf('/');
          return { kind: 'NetworkPolicy', namespace: p.slice(0, slash), name: p.slice(slash + 1) };
        }) };
      }
      const r = info.rule;
      return { id, text, direction: r.direction, action: info.action,
        policies: [r.kind === 'NetworkPolicy' ? { kind: r.kind, namespace: r.namespace, name: r.name } : { kind: r.kind, name: r.name }] };
    });
  }

  endpoints(): EndpointAddress[] {
    const cc = this.runtime.compiled;
    const ipcache = cc.plan.ipcache;
    const identityOf = (a: string) => ipcache.get(`${a}/32`)?.info;
    const out: EndpointAddress[] = [];
    for (const n of cc.model.nodes) {
      for (const a of new Set(n.addresses.map((x) => x.address))) {
        out.push({ address: a, kind: 'node', namespace: '', name: n.name, labels: { ...n.labels }, node: n.name, identity: IDENTITY.HOST, endpointId: 0, owner: null });
      }
    }
    for (const p of cc.model.pods) {
      if (p.hostNetwork || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
      for (const a of p.podIPs) {
        const info = identityOf(a);
        // The pod's own endpoint number (the ipcache's `endpoint` is the policy subject once policies exist).
        out.push({ address: a, kind: 'pod', namespace: p.namespace, name: p.name, labels: { ...p.labels }, node: p.nodeName ?? null,
          identity: info?.identity ?? 0, endpointId: cc.alloc.endpointIds.get(`${p.namespace}/${p.name}`) ?? 0, owner: p.owner ? { kind: p.owner.kind, name: p.owner.name } : null });
      }
    }
    return out;
  }

  capacity(): EmulatorCapacity {
    const o = this.dp.options;
    return { flows: o.limits.maxFlows, natPorts: { min: o.natPorts.min, max: o.natPorts.max } };
  }

  conntrackCount(): number { return this.dp.ctCount(); }

  explain(packet: PacketInput): FlowRecord {
    // The packet runs for real and everything it changed is put back: the core's memory and globals (or the
    // reference's maps) and the clock.
    this.tracer.packet(packet); // a bad packet throws here, before any copy
    const state = this.dp.exportState();
    const clock = this.tracer.clock;
    try {
      return this.tracer.run([{ input: packet, line: this.sequence + 1 }], 'throw')[0] as TraceRecord;
    } finally {
      this.dp.importState(state);
      this.tracer.clock = clock;
    }
  }

  onFlow(listener: (record: FlowRecord) => void): () => void {
    if (typeof listener !== 'function') throw new InputError('onFlow: the listener must be a function', 'listener');
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  flows(signal?: AbortSignal): AsyncIterableIterator<FlowRecord> {
    const queue: FlowRecord[] = [];
    let wake: (() => void) | undefined;
    let done = signal?.aborted ?? false;
    const off = this.onFlow((r) => { queue.push(r); wake?.(); });
    const stop = () => { done = true; off(); wake?.(); };
    signal?.addEventListener('abort', stop, { once: true });
    const it: AsyncIterableIterator<FlowRecord> = {
      [Symbol.asyncIterator]: () => it,
      next: async () => {
        while (queue.length === 0 && !done) await new Promise<void>((r) => { wake = r; });
        wake = undefined;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      return: async () => { stop(); return { value: undefined, done: true }; },
    };
    return it;
  }

  get workers(): number { return this.dp instanceof WasmDataplane ? this.dp.workers : 1; }

  async close(): Promise<void> { if (this.dp instanceof WasmDataplane) await this.dp.close(); }

  snapshot(): Uint8Array {
    const content: SnapshotContent = {
      backend: this.dp.kind, buildId: this.buildId, options: this.stored, log: this.log, clock: this.tracer.clock,
      sequence: this.sequence, state: this.dp.exportState(),
      ...(this.runtime.model.northSouth ? { httpDraw: httpDrawState(this.dp, this.runtime.model) } : {}),
    };
    return encodeSnapshot(content);
  }

  /** After a restore: the original's clock and packet count. */
  resume(clock: { t: number; gcMs: number }, sequence: number): void {
    this.tracer.clock = clock;
    this.sequence = sequence;
  }
}

/**
 * The pieces behind an emulator made by createEmulator, for dpemu's own commands (`dpemu run` reads the
 * compiled cluster and moves the clock without a collection per step). Not part of the public API.
 */
export function internalsOf(emu: Emulator): { dp: Dataplane; runtime: ClusterRuntime; tracer: Tracer; traceJsonInto: EmulatorImpl['traceJsonInto'] } {
  if (!(emu instanceof EmulatorImpl)) throw new InputError('not an emulator made by createEmulator', 'emulator');
  return { dp: emu.dp, runtime: emu.runtime, tracer: emu.tracer, traceJsonInto: emu.traceJsonInto.bind(emu) };
}

class Batch implements EmulatorBatch {
  constructor(readonly raw: PacketBatch, private readonly tracer: Tracer, readonly owner: EmulatorImpl) {}
  private readonly nodes: string[] = [];
  get capacity(): number { return this.raw.capacity; }

  set(i: number, packet: PacketInput): void {
    if (!(Number.isInteger(i) && i >= 0 && i < this.raw.capacity)) throw new InputError(`batch.set: index ${JSON.stringify(i)} is not in 0..${this.raw.capacity - 1}`, 'index');
    const { pkt, nodeName } = this.tracer.packet(packet);
    this.raw.set(i, pkt);
    this.nodes[i] = nodeName;
  }

  get(i: number): BatchOutcome {
    if (!(Number.isInteger(i) && i >= 0 && i < this.raw.capacity)) throw new InputError(`batch.get: index ${JSON.stringify(i)} is not in 0..${this.raw.capacity - 1}`, 'index');
    const r = this.raw.get(i);
    const cc = this.tracer.compiled;
    const svc = r.service !== NONE ? cc.servicesByIndex.get(r.service) : undefined;
    const b = r.backend !== NONE ? cc.backendsById.get(r.backend) : undefined;
    return {
      verdict: VERDICT_NAMES[r.verdict] ?? String(r.verdict),
      drop_reason: r.dropReason ? DROP_REASON_NAMES[r.dropReason] ?? String(r.dropReason) : null,
      src: formatIPv4(r.outSaddr), sport: r.outSport, dst: formatIPv4(r.outDaddr), dport: r.outDport,
      ct_state: CT_STATE_NAMES[r.ctState] ?? String(r.ctState),
      service: svc?.label ?? null,
      backend: b ? `${formatIPv4(b.addr)}:${b.port}` : r.backend !== NONE ? `#${r.backend}` : null,
    };
  }
}

/** The core's build id (scripts/export-state.mjs), or null for a core built without it. */
function buildIdOf(dp: Dataplane): number | null {
  if (!(dp instanceof WasmDataplane)) return null;
  const g = (dp.core as unknown as Record<string, unknown>).buildId;
  return g instanceof WebAssembly.Global ? (g.value as number) >>> 0 : null;
}

async function build(options: EmulatorOptions, core: CoreLoader, limits?: Limits, share?: WorkerStarter): Promise<{ emu: EmulatorImpl; initial: ManifestFile[]; prepared?: PreparedApply }> {
  const split = splitOptions(options);
  const c = options.cluster;
  const initial = c === undefined ? [] : isFileSet(c) ? checkFiles(c.files) : manifestFiles(c as ManifestInput, 'cluster');
  // The initial cluster is loaded once: its model sizes the maps, and the first apply takes that load.
  const prepared = initial.length > 0 && limits === undefined ? ClusterRuntime.prepare(initial, { ...split.compile, load: split.load }) : undefined;
  const resolvedLimits = limits ?? limitsFor(options, split, prepared);
  const dpOptions: Options = { ...split.dataplane, ...resolvedLimits };
  let dp: Dataplane;
  try {
    const workers = options.workers ?? 1;
    if (workers > 1 && options.backend === 'reference') throw new InputError('option workers: the reference backend runs on one thread', 'workers');
    if (workers > 1 && !share) throw new InputError('option workers: worker threads are available in Node (import "dpemu" there)', 'workers');
    if (workers > 1 && options.wasm !== undefined) throw new InputError('option workers: workers run the package\'s own core (leave out option wasm)', 'workers');
    dp = options.backend === 'reference'
      ? new ReferenceDataplane(dpOptions)
      : workers > 1 ? await share!(dpOptions, workers)
        : await WasmDataplane.create(options.wasm !== undefined ? await compileCore(options.wasm) : await core(), dpOptions);
  } catch (e) {
    if (e instanceof DataplaneError) throw new InputError(e.message, e.message.match(/^option (\w+)/)?.[1]);
    throw e;
  }
  const runtime = ClusterRuntime.create(dp, [], { ...split.compile, load: split.load });
  const tracer = new Tracer(dp, runtime);
  const { wasm: _w, cluster: _c, ...rest } = options;
  // The backend is stored as it ran (also when defaulted), so a restored copy stores the same options.
  const emu = new EmulatorImpl(dp, runtime, tracer, { ...rest, backend: dp.kind, limits: resolvedLimits }, buildIdOf(dp));
  // Control lines of trace() change the cluster through the emulator, so that snapshots see them.
  tracer.options.change = (c) => emu.replay(c);
  return { emu, initial, prepared };
}

/** createEmulator with the entry's way of finding the core. */
export async function createEmulatorWith(core: CoreLoader, options: EmulatorOptions = {}, share?: WorkerStarter): Promise<Emulator> {
  const { emu, initial, prepared } = await build(options, core, undefined, share);
  if (initial.length > 0) emu.replay({ op: 'apply', files: initial }, prepared);
  return emu;
}

/** restoreEmulator with the entry's way of finding the core. */
export async function restoreEmulatorWith(core: CoreLoader, bytes: Uint8Array, options: { wasm?: CoreSource } = {}): Promise<Emulator> {
  const content = decodeSnapshot(bytes);
  const { limits, ...rest } = content.options;
  const { emu } = await build({ ...rest, backend: content.backend, wasm: options.wasm }, core, limits);
  if (emu.backend !== content.backend) throw new DpemuError('SNAPSHOT', 'snapshot: backend mismatch');
  const id = buildIdOf(emu.dp);
  if (content.buildId !== id) {
    throw new DpemuError('SNAPSHOT', `snapshot: made with another build of the core (${content.buildId ?? 'none'}; this one is ${id ?? 'none'}); restore it with the dpemu version that made it`);
  }
  // The control plane's calls again (the host's bookkeeping: ids, regions, the rule list), then the
  // dataplane's own state and the clock exactly as they were.
  for (const entry of content.log) emu.replay(entry);
  emu.dp.importState(content.state);
  emu.resume(content.clock, content.sequence);
  if (content.httpDraw !== undefined && emu.runtime.model.northSouth) setHttpDrawState(emu.dp, emu.runtime.model, content.httpDraw);
  return emu;
}
