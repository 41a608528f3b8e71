// The WebAssembly core behind the Dataplane interface. Browser-safe: no Node
// built-ins here (src/node.ts reads the .wasm from disk). We instantiate with
// plain WebAssembly.instantiate rather than @assemblyscript/loader (deprecated
// since AssemblyScript 0.20): the core has no imports, takes and returns only
// numbers, and the host reads its memory through typed views it re-makes after
// growth, so the generated raw bindings would add nothing but a file to ship.

import {
  Dataplane, Options, ResolvedOptions, Backend, ServiceConfig, Frontend, EndpointInfo, PolicyKey, PolicyValue,
  FlowInfo, LiveFlow, Counters, DataplaneState, SparseMemory, MEMORY_CHUNK, DataplaneError, CapacityError, tableFull, resolveOptions, check, decodeCounters, TimeOrigin, ALGO, SCOPE, portPrefixOf, DESIGN_ID,
} from './dataplane.js';
import { KubeServicesChain } from './controlplane/kubeServices.js';
import { PacketBatch, COUNTER } from './packet.js';
import { CT_KEY, FLOW, RULE, FLOW_STATE_SHOWN } from './records.js';
import { RegionAllocator } from './common/regions.js';

/** The core's exports (assembly/index.ts). u32 results arrive as i32: apply >>> 0. */
export interface CoreExports {
  memory: WebAssembly.Memory;
  init(maxFlows: number, maxServices: number, maxFrontends: number, maxBackends: number, maxSlots: number,
    maxMaglevCells: number, maxAffinity: number, maxIpcache: number, maxPolicy: number, maxNodes: number, shards: number): number;
  setLifetimes(tcp: number, syn: number, close: number, nontcp: number): void;
  setNatPorts(min: number, max: number, tries: number): void;
  setPolicyRecheck(on: number): void;
  setPolicyKnobs(allowSelf: number, egressOwnNode: number): void;
  setHashSeed(seed: number): void;
  prngSeed(seed: number): void;
  process(batch: number, n: number, now: number): number;
  gc(now: number): number;
  timeRebase(delta: number): void;
  batchAlloc(n: number): number;
  scratchAlloc(size: number): number;
  nodeSet(id: number, addr: number, up: number): number;
  frontendUpsert(vip: number, port: number, proto: number, scope: number, node: number, index: number): number;
  frontendDelete(vip: number, port: number, proto: number, scope: number, node: number): number;
  sourceRangeUpsert(index: number, addr: number, plen: number): number;
  sourceRangeDelete(index: number, addr: number, plen: number): number;
  ctFlush(backend: number, proto: number): number;
  nodeFail(node: number): number;
  serviceSet(index: number, slots: number, count: number, algo: number, flags: number, affinityMs: number, maglev: number, maglevM: number, affinityGroup: number): number;
  backendSet(id: number, addr: number, port: number, node: number, weight: number, flags: number): number;
  backendActive(id: number): number;
  backendInactive(id: number): number;
  backendSlotsBase(): number;
  maglevBase(): number;
  ipcacheUpsert(addr: number, plen: number, identity: number, endpoint: number, node: number, flags: number): number;
  ipcacheDelete(addr: number, plen: number): number;
  policyUpsert(subject: number, identity: number, port: number, proto: number, dir: number, plen: number, rule: number, verdict: number): number;
  policyDelete(subject: number, identity: number, port: number, proto: number, dir: number, plen: number): number;
  policyBump(): number;
  countersBase(): number;
  ctCount(): number;
  ctReplies(): number;
  ctFlowsMap(shard: number): number;
  shards(): number;
  processShare(batch: number, n: number, now: number, self: number, workers: number, block: number): number;
  planRoom(n: number): number;
  workerAttach(region: number, size: number): number;
  lruOldest(map: number): number;
  lruNewer(map: number, slot: number): number;
  lruKeyOf(slot: number): number;
  lruValueOf(map: number, slot: number): number;
  ctPeek(saddr: number, daddr: number, sport: number, dport: number, proto: number, now: number, node: number): number;
  allocatedBytes(): number;
  designInit(design: number, maxServices: number, maxFrontends: number): number;
  iptablesRulesBase(): number;
  iptablesRulesSet(n: number, first: number): number;
}

const MAP_NAMES = ['', 'ctFlows', 'ctReplies', 'frontends', 'services', 'backendSlots', 'backends',
  'maglevCells', 'affinity', 'ipcache', 'policy', 'nodes', 'sourceRanges', 'policyLengths', 'backendIdle', 'shards', 'prng', 'run plans'];

export async function instantiateCore(source: WebAssembly.Module | BufferSource): Promise<CoreExports> {
  const instance = source instanceof WebAssembly.Module
    ? await WebAssembly.instantiate(source, {})
    : (await WebAssembly.instantiate(source, {})).instance;
  return instance.exports as unknown as CoreExports;
}

/**
 * The core built to import a shared memory (build/shared.wasm: the same code, its memory given by the host), on
 * `memory`: what worker threads share (src/workers.ts).
 */
export async function instantiateSharedCore(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<CoreExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { ...(instance.exports as unknown as CoreExports), memory };
}

/**
 * A batch processed by several workers sharing the core's memory (src/workers.ts in Node): each processes the nodes
 * of the shards it owns, the first of them being this dataplane's own instance.
 */
export interface BatchSharing {
  readonly workers: number;
  /** Batches shared with the other workers so far (small ones are processed by the first alone). */
  readonly shared: number;
  /** Process a batch (the core's process()): the packets forwarded. */
  process(batch: number, n: number, now: number): number;
  /** Where the other workers keep their counters (the host adds them to this instance's). */
  counterBases(): number[];
  /** Stop the workers. */
  close(): Promise<void>;
}

export class WasmDataplane implements Dataplane {
  readonly kind = 'wasm' as const;
  readonly options: ResolvedOptions;
  private readonly slots: RegionAllocator;
  private readonly cells: RegionAllocator;
  private readonly serviceRegions = new Map<number, { slots: number; slotLen: number; cells: number; cellLen: number }>();
  private readonly backendsSet = new Set<number>();
  /** iptables design: KUBE-SERVICES, mirrored into the core's rule list. */
  private readonly chain?: KubeServicesChain;

  /**
   * A second instance of the same core for the north-south proxy's decisions (src/gateway/trace-hook.ts): its
   * route tables stay out of this dataplane's memory, so snapshots and restored states never hold them.
   */
  readonly northSouth?: CoreExports;

  /** Worker threads sharing the batches (createShared), if any. */
  private sharing?: BatchSharing;

  private constructor(readonly core: CoreExports, options: ResolvedOptions, northSouth?: CoreExports) {
    this.options = options;
    if (northSouth) this.northSouth = northSouth;
    this.slots = new RegionAllocator(options.limits.maxSlots);
    this.cells = new RegionAllocator(options.limits.maxMaglevCells);
    if (options.design === 'iptables') this.chain = new KubeServicesChain();
  }

  /** A dataplane on a fresh instance of the compiled core. */
  static async create(source: WebAssembly.Module | BufferSource, options: Options = {}): Promise<WasmDataplane> {
    const o = resolveOptions(options);
    const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
    const core = await instantiateCore(module);
    WasmDataplane.initCore(core, o);
    return new WasmDataplane(core, o, await instantiateCore(module));
  }

  /**
   * A dataplane whose batches `workers` threads share: the shared-memory build of the core (`shared`), on a shared
   * memory, its maps written here once and read by every worker, which `start` starts (src/workers.ts). `northSouth`
   * is the ordinary build, for the north-south proxy's own instance.
   */
  static async createShared(shared: WebAssembly.Module, northSouth: WebAssembly.Module, options: Options,
    start: (core: CoreExports, module: WebAssembly.Module) => Promise<BatchSharing>): Promise<WasmDataplane> {
    const o = resolveOptions(options);
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
    const core = await instantiateSharedCore(shared, memory);
    WasmDataplane.initCore(core, o);
    const dp = new WasmDataplane(core, o, await instantiateCore(northSouth));
    dp.sharing = await start(core, shared);
    return dp;
  }

  /** Workers sharing the batches (1: this instance alone). */
  get workers(): number { return this.sharing?.workers ?? 1; }
  /** Batches the workers have shared so far. */
  get sharedBatches(): number { return this.sharing?.shared ?? 0; }

  /** Stop the worker threads, if any (the dataplane is not used afterwards). */
  async close(): Promise<void> { await this.sharing?.close(); this.sharing = undefined; }

  private static initCore(core: CoreExports, o: ResolvedOptions): void {
    const l = o.limits;
    const rc = core.init(l.maxFlows, l.maxServices, l.maxFrontends, l.maxBackends, l.maxSlots, l.maxMaglevCells,
      l.maxAffinity, l.maxIpcache, l.maxPolicy, l.maxNodes, l.shards);
    if (rc !== 0) throw new DataplaneError(`could not create map ${MAP_NAMES[rc] ?? rc}: out of memory (lower the limits)`);
    if (core.designInit(DESIGN_ID[o.design], l.maxServices, l.maxFrontends) !== 0) {
      throw new DataplaneError(`design ${o.design}: could not create its tables: out of memory (lower the limits)`);
    }
    core.setLifetimes(o.lifetimesMs.tcp, o.lifetimesMs.syn, o.lifetimesMs.close, o.lifetimesMs.nonTcp);
    core.setNatPorts(o.natPorts.min, o.natPorts.max, o.natPorts.tries);
    core.setPolicyRecheck(o.policyRecheckEstablished ? 1 : 0);
    core.setPolicyKnobs(o.policyAllowSelf ? 1 : 0, o.policyEgressToOwnNode ? 1 : 0);
    core.setHashSeed(o.hashSeed);
    core.prngSeed(o.seed);
  }

  private buffer = (): ArrayBuffer => this.core.memory.buffer;

  setNode(id: number, addr: number, up = true): void {
    check.node(this.options.limits, id, addr);
    this.core.nodeSet(id, addr, up ? 1 : 0);
  }

  setBackend(id: number, b: Backend): void {
    check.backend(this.options.limits, id, b);
    this.core.backendSet(id, b.addr, b.port, b.node, b.weight ?? 1, b.valid === false ? 0 : 1);
    this.backendsSet.add(id);
  }

  setService(index: number, s: ServiceConfig): void {
    check.algoInDesign(this.options.design, index, s.algo);
    if (this.sharing && this.options.design === 'ebpf' && (s.algo === 'rr' || s.algo === 'lc')) {
      // Their cursor and counts are one for the whole cluster, which workers would update at once.
      throw new DataplaneError(`service ${index}: the ebpf design's ${s.algo} selection keeps one state for every node and cannot be shared by worker threads; use one worker, or the ipvs design's ${s.algo}, which is per node`);
    }
    check.service(this.options.limits, index, s, (id) => this.backendsSet.has(id));
    const n = s.backends.length;
    const m = s.algo === 'maglev' && n > 0 ? s.maglev!.length : 0;
    const old = this.serviceRegions.get(index);
    // New ranges first, the old ones freed only once the new ones exist: a failure changes nothing.
    const reuseSlots = old !== undefined && old.slotLen >= n;
    const reuseCells = old !== undefined && old.cellLen >= m;
    const slots = reuseSlots ? old!.slots : this.slots.alloc(n);
    if (slots < 0) throw new CapacityError(`service ${index}: no room for ${n} backend slots (maxSlots ${this.options.limits.maxSlots})`, 'backendSlots', this.options.limits.maxSlots);
    const cells = reuseCells ? old!.cells : this.cells.alloc(m);
    if (cells < 0) {
      if (!reuseSlots) this.slots.release(slots, n);
      throw new CapacityError(`service ${index}: no room for ${m} Maglev cells (maxMaglevCells ${this.options.limits.maxMaglevCells})`, 'maglevCells', this.options.limits.maxMaglevCells);
    }
    new Uint32Array(this.buffer(), this.core.backendSlotsBase() >>> 0, this.options.limits.maxSlots).set(s.backends, slots);
    if (m > 0) new Uint16Array(this.buffer(), this.core.maglevBase() >>> 0, this.options.limits.maxMaglevCells).set(s.maglev!, cells);
    const rc = this.core.serviceSet(index, slots, n, ALGO[s.algo], s.flags ?? 0,
      Math.round((s.affinityTimeout ?? 0) * 1000), cells, m, s.affinityGroup ?? index);
    if (rc !== 0) throw new DataplaneError(`service ${index}: the core refused it (${rc})`);
    if (old && !reuseSlots) this.slots.release(old.slots, old.slotLen);
    if (old && !reuseCells) this.cells.release(old.cells, old.cellLen);
    this.serviceRegions.set(index, {
      slots, slotLen: reuseSlots ? old!.slotLen : n, cells, cellLen: reuseCells ? old!.cellLen : m,
    });
  }

  upsertFrontend(fe: Frontend, index: number): void {
    check.frontend(this.options.limits, fe, index);
    if (this.chain) {
      if (!this.chain.has(fe)) check.full('frontends', this.chain.length, this.options.limits.maxFrontends, 'maxFrontends');
      this.writeRules(this.chain.upsert(fe, index));
      return;
    }
    const rc = this.core.frontendUpsert(fe.addr, fe.port, fe.proto, SCOPE[fe.scope ?? 'any'], fe.node ?? 0, index);
    if (rc !== 0) throw tableFull('frontends', this.options.limits.maxFrontends, 'maxFrontends');
  }
  deleteFrontend(fe: Frontend): boolean {
    check.frontendKey(this.options.limits, fe);
    if (this.chain) {
      const at = this.chain.delete(fe);
      if (at >= 0) this.writeRules(at);
      return at >= 0;
    }
    return this.core.frontendDelete(fe.addr, fe.port, fe.proto, SCOPE[fe.scope ?? 'any'] ?? 9, fe.node ?? 0) !== 0;
  }
  /** Copy KUBE-SERVICES rules [first, end) into the core's rule list (layout: assembly/records.ts Rule). */
  private writeRules(first: number): void {
    const rules = this.chain!.rules;
    const base = this.core.iptablesRulesBase() >>> 0;
    const v = new DataView(this.buffer(), base, this.options.limits.maxFrontends * RULE.SIZE);
    for (let i = first; i < rules.length; i++) {
      const r = rules[i], o = i * RULE.SIZE;
      v.setUint32(o + RULE.DADDR, r.addr, true); v.setUint16(o + RULE.DPORT, r.port, true); v.setUint8(o + RULE.PROTO, r.proto);
      v.setUint8(o + RULE.SCOPE, r.scope); v.setUint32(o + RULE.NODE, r.node, true); v.setUint32(o + RULE.TARGET, r.target, true);
    }
    const rc = this.core.iptablesRulesSet(rules.length, Math.min(first, rules.length));
    if (rc !== 0) throw new DataplaneError(`KUBE-SERVICES: the core refused rules ${first}..${rules.length - 1} (${rc})`);
  }

  upsertSourceRange(index: number, addr: number, plen: number): void {
    check.sourceRange(this.options.limits, index, addr, plen);
    if (this.core.sourceRangeUpsert(index, addr, plen) !== 0) throw tableFull('source ranges', this.options.limits.maxFrontends, 'maxFrontends');
  }
  deleteSourceRange(index: number, addr: number, plen: number): boolean {
    check.sourceRange(this.options.limits, index, addr, plen);
    return this.core.sourceRangeDelete(index, addr, plen) !== 0;
  }
  flushBackend(backend: number, proto: number): number {
    check.flush(this.options.limits, backend, proto);
    return this.core.ctFlush(backend, proto) >>> 0;
  }
  flushNode(node: number): number {
    check.nodeId(this.options.limits, node, 'flushNode');
    return this.core.nodeFail(node) >>> 0;
  }

  upsertIpcache(addr: number, plen: number, info: EndpointInfo): void {
    check.ipcache(addr, plen, info);
    const rc = this.core.ipcacheUpsert(addr, plen, info.identity, info.endpoint, info.node, info.flags);
    if (rc !== 0) throw tableFull('ipcache', this.options.limits.maxIpcache, 'maxIpcache');
  }
  deleteIpcache(addr: number, plen: number): boolean {
    check.prefix(addr, plen, 'ipcache');
    return this.core.ipcacheDelete(addr, plen) !== 0;
  }

  upsertPolicy(k: PolicyKey, v: PolicyValue): void {
    check.policy(k, v);
    const rc = this.core.policyUpsert(k.endpoint, k.identity, k.port, k.proto, k.dir, portPrefixOf(k), v.rule, v.verdict);
    if (rc !== 0) throw tableFull('policy', this.options.limits.maxPolicy, 'maxPolicy');
  }
  deletePolicy(k: PolicyKey): boolean {
    check.policy(k);
    return this.core.policyDelete(k.endpoint, k.identity, k.port, k.proto, k.dir, portPrefixOf(k)) !== 0;
  }
  policyChanged(): void { this.core.policyBump(); }

  allocBatch(capacity: number): PacketBatch {
    if (!(Number.isInteger(capacity) && capacity > 0 && capacity <= 1 << 24)) throw new DataplaneError(`batch capacity ${capacity} not in 1..16777216`);
    const ptr = this.core.batchAlloc(capacity) >>> 0;
    if (ptr === 0) throw new DataplaneError(`batch of ${capacity} packets: out of memory`);
    return new PacketBatch(this.buffer, ptr, capacity, this);
  }

  private readonly clock = new TimeOrigin();
  /** Absolute ms as the core's u32 time (see TimeOrigin). */
  private coreTime(nowMs: number): number { return this.clock.core(nowMs, (delta) => this.core.timeRebase(delta)); }

  process(batch: PacketBatch, count: number, nowMs: number): number {
    check.batch(this, batch, count);
    const now = this.coreTime(nowMs);
    if (this.sharing) return this.sharing.process(batch.ptr, count, now);
    return this.core.process(batch.ptr, count, now) >>> 0;
  }

  gc(nowMs: number): number { return this.core.gc(this.coreTime(nowMs)) >>> 0; }
  ctCount(): number { return this.core.ctCount() >>> 0; }
  backendActive(id: number): number { check.backendId(this.options.limits, id, 'backendActive'); return this.core.backendActive(id) >>> 0; }
  backendInactive(id: number): number { check.backendId(this.options.limits, id, 'backendInactive'); return this.core.backendInactive(id) >>> 0; }

  flow(saddr: number, daddr: number, sport: number, dport: number, proto: number, nowMs: number, node = 0): FlowInfo | undefined {
    check.tuple(saddr, daddr, sport, dport, proto);
    check.nodeId(this.options.limits, node);
    const v = this.core.ctPeek(saddr, daddr, sport, dport, proto, this.coreTime(nowMs), node) >>> 0;
    return v === 0 ? undefined : this.flowAt(v);
  }

  liveFlows(nowMs: number): LiveFlow[] {
    const now = this.coreTime(nowMs);
    const out: LiveFlow[] = [];
    for (let shard = 0; shard < this.options.limits.shards; shard++) { // shard by shard, each oldest first
      const m = this.core.ctFlowsMap(shard) >>> 0;
      for (let s = this.core.lruOldest(m) >>> 0; s !== 0; s = this.core.lruNewer(m, s) >>> 0) {
        const info = this.flowAt(this.core.lruValueOf(m, s) >>> 0);
        if (info.expires <= now + this.clock.origin) continue;
        const k = new DataView(this.buffer(), this.core.lruKeyOf(s) >>> 0, CT_KEY.SIZE);
        out.push({ saddr: k.getUint32(CT_KEY.SADDR, true), daddr: k.getUint32(CT_KEY.DADDR, true), sport: k.getUint16(CT_KEY.SPORT, true),
          dport: k.getUint16(CT_KEY.DPORT, true), proto: k.getUint8(CT_KEY.PROTO), node: k.getUint16(CT_KEY.NODE, true), info });
      }
    }
    return out;
  }

  /** The flow value at address v (layout: assembly/records.ts Flow). */
  private flowAt(v: number): FlowInfo {
    const d = new DataView(this.buffer(), v, FLOW.SIZE);
    return {
      natSaddr: d.getUint32(FLOW.NAT_SADDR, true), natDaddr: d.getUint32(FLOW.NAT_DADDR, true), natSport: d.getUint16(FLOW.NAT_SPORT, true),
      natDport: d.getUint16(FLOW.NAT_DPORT, true), service: d.getUint32(FLOW.SERVICE, true), backend: d.getUint32(FLOW.BACKEND, true),
      expires: d.getUint32(FLOW.EXPIRES, true) + this.clock.origin, state: d.getUint32(FLOW.STATE, true) & FLOW_STATE_SHOWN,
      packets: d.getUint32(FLOW.PACKETS, true), bytes: d.getUint32(FLOW.BYTES, true),
    };
  }

  rawCounters(): bigint[] {
    const sum = Array.from(new BigUint64Array(this.buffer(), this.core.countersBase() >>> 0, COUNTER.LENGTH));
    for (const base of this.sharing?.counterBases() ?? []) { // each worker counts its own (u64, wrapping: a sum)
      new BigUint64Array(this.buffer(), base, COUNTER.LENGTH).forEach((c, i) => { sum[i] = BigInt.asUintN(64, sum[i] + c); });
    }
    return sum;
  }
  counters(): Counters { return decodeCounters(this.rawCounters()); }

  /** The core's mutable globals (exported as state$0, state$1, ... by scripts/export-state.mjs). */
  private stateGlobals(): WebAssembly.Global[] {
    const out: WebAssembly.Global[] = [];
    const ex = this.core as unknown as Record<string, unknown>;
    for (let i = 0; ex[`state$${i}`] instanceof WebAssembly.Global; i++) out.push(ex[`state$${i}`] as WebAssembly.Global);
    if (out.length === 0) throw new DataplaneError('this build of the core does not export its state (build it with npm run asbuild)');
    return out;
  }

  exportState(): DataplaneState {
    if (this.sharing) throw new DataplaneError('a snapshot is taken of an emulator with one worker (its state is the same for any number)');
    const mem = new Uint8Array(this.buffer());
    const words = new Uint32Array(this.buffer()); // memory is whole 64 KiB pages: chunks are whole words
    const chunks: SparseMemory['chunks'] = [];
    const per = MEMORY_CHUNK / 4;
    for (let c = 0, w = 0; w < words.length; c++, w += per) {
      for (let i = w; i < w + per; i++) {
        if (words[i] !== 0) { chunks.push({ index: c, bytes: mem.slice(c * MEMORY_CHUNK, (c + 1) * MEMORY_CHUNK) }); break; }
      }
    }
    return { kind: 'wasm', memory: { size: mem.length, chunks }, globals: this.stateGlobals().map((g) => g.value as number | bigint), origin: this.clock.origin };
  }

  importState(state: DataplaneState): void {
    if (this.sharing) throw new DataplaneError('a snapshot is restored into an emulator with one worker');
    const globals = this.stateGlobals();
    if (state.kind !== 'wasm' || state.globals.length !== globals.length) throw new DataplaneError('state of another kind of dataplane or another build of the core');
    const mem = this.core.memory;
    const pages = Math.ceil(state.memory.size / 65536);
    const have = mem.buffer.byteLength / 65536;
    if (pages > have) mem.grow(pages - have);
    const bytes = new Uint8Array(mem.buffer);
    bytes.fill(0);
    for (const c of state.memory.chunks) bytes.set(c.bytes, c.index * MEMORY_CHUNK);
    globals.forEach((g, i) => { g.value = state.globals[i]; });
    this.clock.origin = state.origin;
  }

  /** Bytes of linear memory the core's maps and batches take. */
  memoryBytes(): number { return this.core.allocatedBytes() >>> 0; }
}
