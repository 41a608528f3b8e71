// The Dataplane interface: what the control plane writes (nodes, services,
// backends, frontends, ipcache, policy) and how traffic goes through. Two
// implementations: WasmDataplane (src/wasm.ts, the fast core) and
// ReferenceDataplane (src/reference/dataplane.ts, the oracle). Both validate
// their inputs with the checks below, so they refuse the same things with the
// same message, before anything is written.

import { PacketBatch, COUNTER, VERDICT_NAMES, DROP_REASON_NAMES } from './packet.js';
import { PROTO, KUBERNETES_PROTOCOLS, isKnownProtocol } from './protocols.js';
import { DataplaneError, CapacityError } from './errors.js';

/** Endpoint-selection algorithms (assembly/lb.ts ALGO_*); which design has which: DESIGN_ALGOS. */
export const ALGO = { random: 0, weighted: 1, maglev: 2, rr: 3, lc: 4, sh: 5, wrr: 6, wlc: 7, dh: 8, sed: 9, nq: 10 } as const;
export type Algorithm = keyof typeof ALGO;
export const ALGO_NAMES = Object.keys(ALGO) as Algorithm[];

/**
 * Dataplane designs: the same Kubernetes semantics over different data structures, all in the WebAssembly
 * core. `ebpf` (Cilium-style hash maps) is the default.
 */
export const DESIGN_NAMES = ['ebpf', 'iptables', 'ipvs', 'nftables'] as const;
export type Design = typeof DESIGN_NAMES[number];

/** What the host knows of a design: one record each (a new design is one row here and its core module). */
export interface DesignInfo {
  /** The core's design number (assembly/config.ts DESIGN_*). */
  id: number;
  /** The algorithms it has (the core refuses others for it). */
  algorithms: readonly Algorithm[];
  /** Its default algorithm. */
  defaultAlgo: Algorithm;
}

/**
 * ebpf: Cilium's random (its default) and Maglev, and the emulator's weighted, rr, lc and sh; iptables only
 * the statistic-probability chain (random); ipvs the kernel schedulers (kube-proxy's --ipvs-scheduler
 * default is rr); nftables only `numgen random`.
 */
export const DESIGNS: Readonly<Record<Design, DesignInfo>> = {
  ebpf: { id: 0, algorithms: ['random', 'weighted', 'maglev', 'rr', 'lc', 'sh'], defaultAlgo: 'random' },
  iptables: { id: 1, algorithms: ['random'], defaultAlgo: 'random' },
  ipvs: { id: 2, algorithms: ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq'], defaultAlgo: 'rr' },
  nftables: { id: 3, algorithms: ['random'], defaultAlgo: 'random' },
};
const byDesign = <T>(f: (d: DesignInfo) => T) => Object.fromEntries(DESIGN_NAMES.map((n) => [n, f(DESIGNS[n])])) as Record<Design, T>;
/** The core's design numbers (DESIGNS[d].id). */
export const DESIGN_ID: Record<Design, number> = byDesign((d) => d.id);
/** The algorithms each design has (DESIGNS[d].algorithms). */
export const DESIGN_ALGOS: Record<Design, readonly Algorithm[]> = byDesign((d) => d.algorithms);
/** Each design's default algorithm (DESIGNS[d].defaultAlgo). */
export const DEFAULT_ALGO: Record<Design, Algorithm> = byDesign((d) => d.defaultAlgo);

/** Service flags (assembly/lb.ts SVC_*). */
export const SVC_FLAG = { MASQ_EXTERNAL: 1, MASQ_ALWAYS: 2, SOURCE_RANGES: 4, DROP_NO_BACKEND: 8 } as const;
/** Frontend scopes: ANY, or one node's entry for external / internal sources (assembly/lb.ts). */
export const SCOPE = { any: 0, external: 1, internal: 2 } as const;
export const IPC_FLAG = { POD: 1, HOST: 2, ENFORCE_INGRESS: 4, ENFORCE_EGRESS: 8 } as const;
export const DIR = { INGRESS: 0, EGRESS: 1 } as const;
/** Policy entry verdicts: allowed by a rule; denied by a rule (POLICY_DENY); isolated, no rule allows (POLICY_DENIED). */
export const POLICY_VERDICT = { ALLOW: 1, DENY: 2, DENIED: 3 } as const;
export const IDENTITY = { HOST: 1, WORLD: 2 } as const;

export interface Limits {
  maxFlows: number; maxServices: number; maxFrontends: number; maxBackends: number;
  maxSlots: number; maxMaglevCells: number; maxAffinity: number; maxIpcache: number;
  maxPolicy: number; maxNodes: number;
  /**
   * Every node's own state (conntrack, ClientIP affinity, IPVS scheduler state and counts) is kept in this many
   * shards of tables, node n's in shard n mod shards, each holding maxFlows/shards flows and maxAffinity/shards
   * affinities: a power of two up to 64. Worker threads own whole shards, so results are the same for any number
   * of workers up to this; a cluster's default (limitsForModel) is its node count up to 8.
   */
  shards: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFlows: 65536, maxServices: 4096, maxFrontends: 16384, maxBackends: 16384, maxSlots: 65536,
  maxMaglevCells: 1 << 20, maxAffinity: 65536, maxIpcache: 65536, maxPolicy: 65536, maxNodes: 256, shards: 1,
};

export interface Options extends Partial<Limits> {
  /** PRNG seed for random and weighted endpoint choice. */
  seed?: number;
  /** Seed of the flow hash (Maglev cell, source hash, NAT port start). */
  hashSeed?: number;
  /** Conntrack lifetimes in seconds (Cilium defaults: TCP 21600, SYN 60, close 10, non-TCP 60). */
  ctLifetimes?: Partial<{ tcp: number; syn: number; close: number; nonTcp: number }>;
  /** Masquerade source ports (default Linux ip_local_port_range 32768-60999, 32 tries). */
  natPorts?: Partial<{ min: number; max: number; tries: number }>;
  /** Re-apply policy to established flows after a policy change (Cilium: yes; default true). */
  policyRecheckEstablished?: boolean;
  /**
   * A pod's traffic to itself, directly or hairpinned through a Service, skips policy (default
   * true: Cilium bypasses policy for hairpin/loopback flows; no upstream e2e test expects a drop).
   */
  policyAllowSelf?: boolean;
  /** Egress from a pod to its own node's address skips egress policy (default false: Cilium enforces it). */
  policyEgressToOwnNode?: boolean;
  /** Dataplane design (default 'ebpf'). */
  design?: Design;
}

export interface ResolvedOptions {
  limits: Limits; seed: number; hashSeed: number; design: Design;
  lifetimesMs: { tcp: number; syn: number; close: number; nonTcp: number };
  natPorts: { min: number; max: number; tries: number };
  policyRecheckEstablished: boolean;
  policyAllowSelf: boolean;
  policyEgressToOwnNode: boolean;
}

export interface Backend { addr: number; port: number; node: number; weight?: number; valid?: boolean }
export interface ServiceConfig {
  algo: Algorithm;
  /** SVC_FLAG bits. */
  flags?: number;
  /** ClientIP session affinity timeout in seconds; 0 or absent: none. */
  affinityTimeout?: number;
  /** Services with the same group share ClientIP affinity (a client's endpoint); absent: the service's own index. */
  affinityGroup?: number;
  /** Backend ids, in slot order. */
  backends: readonly number[];
  /** Maglev: M cells, each a slot index into `backends` (src/controlplane/maglev.ts builds it). */
  maglev?: Uint16Array;
}
export interface Frontend {
  addr: number; port: number; proto: number;
  /** 'external' / 'internal': this entry applies only to new flows entering on `node` from outside / inside the cluster. */
  scope?: keyof typeof SCOPE; node?: number;
}
export interface EndpointInfo { identity: number; endpoint: number; node: number; flags: number }
/**
 * A policy map key (assembly/policy.ts draws the layout). `endpoint` is the policy subject id
 * (the ipcache `endpoint` field of the pods it covers); `identity` 0 is any peer; `proto` 0 is
 * any protocol (then port and portPrefix are 0). The entry covers the aligned block of ports
 * whose high `portPrefix` bits equal `port`'s; default: 16 (one port) when `port` is set, else 0
 * (every port).
 */
export interface PolicyKey { endpoint: number; identity: number; port: number; proto: number; dir: number; portPrefix?: number }
export interface PolicyValue { rule: number; verdict: number }

export interface FlowInfo {
  natSaddr: number; natDaddr: number; natSport: number; natDport: number;
  service: number; backend: number; expires: number; state: number; packets: number; bytes: number;
}

/** A conntrack entry: its original tuple and what FlowInfo says of it. */
/** A live flow: its original tuple, the node whose conntrack holds it, and the flow. */
export interface LiveFlow { saddr: number; daddr: number; sport: number; dport: number; proto: number; node: number; info: FlowInfo }

export interface Counters {
  verdicts: Record<string, number>;
  drops: Record<string, number>;
  ctCreated: number; ctEvicted: number; ctExpired: number; affinityEvicted: number;
  packets: number; bytes: number; policyLookups: number;
  /** ipvs: a node's scheduler record of a service evicted to make room (that node's rr/wrr restart at the list head). */
  ipvsSchedulerEvicted: number;
}

export interface Dataplane {
  readonly kind: 'wasm' | 'reference';
  readonly options: ResolvedOptions;
  /**
   * Node `id` has address `addr` (0: the node left) and is up, or has failed (`up` false): packets entering it,
   * or crossing to it, are lost (NODE_DOWN).
   */
  setNode(id: number, addr: number, up?: boolean): void;
  setBackend(id: number, b: Backend): void;
  setService(index: number, s: ServiceConfig): void;
  upsertFrontend(fe: Frontend, index: number): void;
  deleteFrontend(fe: Frontend): boolean;
  /** loadBalancerSourceRanges of service `index` (which must carry SVC_FLAG.SOURCE_RANGES). */
  upsertSourceRange(index: number, addr: number, plen: number): void;
  deleteSourceRange(index: number, addr: number, plen: number): boolean;
  /** Remove the flows to a backend of one protocol (0: all), as kube-proxy clears UDP conntrack entries. */
  flushBackend(backend: number, proto: number): number;
  /**
   * A node failed: its conntrack entries and ClientIP affinity are gone (they lived in its kernel); the
   * flows through it die. An agent (kube-proxy) restart is not this: conntrack outlives it. Returns the
   * conntrack entries removed.
   */
  flushNode(node: number): number;
  upsertIpcache(addr: number, plen: number, info: EndpointInfo): void;
  deleteIpcache(addr: number, plen: number): boolean;
  upsertPolicy(key: PolicyKey, value: PolicyValue): void;
  deletePolicy(key: PolicyKey): boolean;
  /** Say that policy changed: established flows are judged again on their next packet. */
  policyChanged(): void;
  allocBatch(capacity: number): PacketBatch;
  /** Run `count` packets of `batch` through the pipeline at virtual time `nowMs`. Returns packets forwarded. */
  process(batch: PacketBatch, count: number, nowMs: number): number;
  /** Garbage-collect expired flows. Returns how many were removed. */
  gc(nowMs: number): number;
  ctCount(): number;
  /** Live flow with this original tuple, without touching its recency. */
  flow(saddr: number, daddr: number, sport: number, dport: number, proto: number, nowMs: number, node?: number): FlowInfo | undefined;
  /** Every live flow (not expired at `nowMs`), in no particular order, without touching their recency. */
  liveFlows(nowMs: number): LiveFlow[];
  /** Live flows to a backend. */
  backendActive(id: number): number;
  /**
   * Of them, those IPVS would count as inactive connections (inactconns): TCP flows once a FIN or RST is
   * seen, UDP and ICMP flows, SCTP flows not yet answered. activeconns is the difference.
   */
  backendInactive(id: number): number;
  counters(): Counters;
  /** Raw counter slots (COUNTER layout), for exact comparisons. */
  rawCounters(): bigint[];
  /**
   * Everything packets and control calls changed, as data (for snapshots): the wasm core's memory and
   * globals, or the reference's maps. importState() puts it back into a dataplane of the same options
   * that has been given the same control-plane calls (so its host-side bookkeeping already matches).
   */
  exportState(): DataplaneState;
  importState(state: DataplaneState): void;
}

/**
 * Linear memory as its non-zero chunks of MEMORY_CHUNK bytes (each copied): most of a fresh map is zeros,
 * and copying only the rest is several times faster than copying all of it.
 */
export interface SparseMemory { size: number; chunks: { index: number; bytes: Uint8Array }[] }
export const MEMORY_CHUNK = 4096;

/** A dataplane's state: the core's linear memory and mutable globals, or the reference's encoded fields. */
export type DataplaneState =
  | { kind: 'wasm'; memory: SparseMemory; globals: (number | bigint)[]; origin: number }
  | { kind: 'reference'; fields: Record<string, unknown> };

export { DataplaneError, CapacityError } from './errors.js';

const u32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const u16 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffff;

function need(ok: boolean, what: string): void {
  if (!ok) throw new DataplaneError(what);
}

export function resolveOptions(o: Options = {}): ResolvedOptions {
  const limits = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = o[k];
    if (v !== undefined) {
      need(Number.isInteger(v) && v >= 1 && v <= 1 << 27, `option ${k}: ${v} is not an integer in 1..${1 << 27}`);
      limits[k] = v;
    }
  }
  need(limits.maxNodes <= 0xffff, `option maxNodes: at most 65535`);
  need(limits.shards <= 64 && (limits.shards & (limits.shards - 1)) === 0, `option shards: ${limits.shards} is not a power of two up to 64`);
  const sec = (name: string, v: number | undefined, d: number) => {
    if (v === undefined) return d * 1000;
    need(Number.isFinite(v) && v > 0 && v * 1000 <= TIME.MAX_SPAN_MS, `option ctLifetimes.${name}: ${v} is not a positive number of seconds up to ${TIME.MAX_SPAN_MS / 1000} (about 12.4 days)`);
    return Math.round(v * 1000);
  };
  const lt = o.ctLifetimes ?? {};
  const ports = { min: 32768, max: 60999, tries: 32, ...o.natPorts };
  need(u16(ports.min) && u16(ports.max) && ports.min >= 1 && ports.min <= ports.max, `option natPorts: ${ports.min}-${ports.max} is not a port range`);
  need(Number.isInteger(ports.tries) && ports.tries >= 1 && ports.tries <= 65535, `option natPorts.tries: ${ports.tries} is not in 1..65535`);
  const seed = o.seed ?? 1, hashSeed = o.hashSeed ?? 0x5eed;
  need(u32(seed), `option seed: ${seed} is not a u32`);
  need(u32(hashSeed), `option hashSeed: ${hashSeed} is not a u32`);
  const design = o.design ?? 'ebpf';
  need((DESIGN_NAMES as readonly string[]).includes(design), `option design: ${JSON.stringify(design)} is not one of ${DESIGN_NAMES.join(', ')}`);
  return {
    limits, seed, hashSeed, natPorts: ports, design,
    lifetimesMs: { tcp: sec('tcp', lt.tcp, 21600), syn: sec('syn', lt.syn, 60), close: sec('close', lt.close, 10), nonTcp: sec('nonTcp', lt.nonTcp, 60) },
    policyRecheckEstablished: o.policyRecheckEstablished ?? true,
    policyAllowSelf: o.policyAllowSelf ?? true,
    policyEgressToOwnNode: o.policyEgressToOwnNode ?? false,
  };
}

/** Port prefix length of a policy key (default: one port when a port is given, else every port). */
export function portPrefixOf(k: PolicyKey): number { return k.portPrefix ?? (k.port === 0 ? 0 : 16); }
/** Mask of the fixed bits of a /plen port block. */
export function portBlockMask(plen: number): number { return (0xffff << (16 - plen)) & 0xffff; }

/** Input checks shared by both backends: same refusals, same words, nothing written first. */
export const check = {
  node(l: Limits, id: number, addr: number): void {
    need(Number.isInteger(id) && id >= 0 && id < l.maxNodes, `node ${id}: id outside 0..${l.maxNodes - 1}`);
    need(u32(addr), `node ${id}: address ${addr} is not an IPv4 u32`);
  },
  backend(l: Limits, id: number, b: Backend): void {
    need(Number.isInteger(id) && id >= 0 && id < l.maxBackends, `backend ${id}: id outside 0..${l.maxBackends - 1}`);
    need(u32(b.addr) && b.addr !== 0, `backend ${id}: address ${b.addr} is not a unicast IPv4 u32`);
    need(u16(b.port) && b.port !== 0, `backend ${id}: port ${b.port} is not in 1..65535`);
    need(u16(b.node), `backend ${id}: node ${b.node} is not a node id`);
    need(b.weight === undefined || u16(b.weight), `backend ${id}: weight ${b.weight} is not in 0..65535`);
  },
  service(l: Limits, index: number, s: ServiceConfig, backendExists: (id: number) => boolean): void {
    const where = `service ${index}`;
    need(Number.isInteger(index) && index >= 0 && index < l.maxServices, `${where}: index outside 0..${l.maxServices - 1}`);
    need(s.algo in ALGO, `${where}: unknown algorithm ${JSON.stringify(s.algo)} (one of ${ALGO_NAMES.join(', ')})`);
    need(s.backends.length <= 0xffff, `${where}: ${s.backends.length} backends, at most 65535`);
    for (const b of s.backends) need(backendExists(b), `${where}: backend ${b} was never set`);
    const t = s.affinityTimeout ?? 0;
    need(Number.isFinite(t) && t >= 0 && t * 1000 <= TIME.MAX_SPAN_MS, `${where}: affinity timeout ${t} s out of range (0..${TIME.MAX_SPAN_MS / 1000})`);
    need(s.flags === undefined || (Number.isInteger(s.flags) && s.flags >= 0 && s.flags <= 255), `${where}: flags ${s.flags} not a byte`);
    if (s.algo === 'maglev' && s.backends.length > 0) {
      need(s.maglev !== undefined && s.maglev.length > 0, `${where}: maglev needs a lookup table (controlplane/maglev.ts)`);
      for (const c of s.maglev!) need(c < s.backends.length, `${where}: maglev cell ${c} names no backend slot`);
    }
  },
  /** The service's algorithm must be one its design has. */
  algoInDesign(design: Design, index: number, algo: Algorithm): void {
    need(!(algo in ALGO) || DESIGN_ALGOS[design].includes(algo), // an unknown name: check.service says so
      `service ${index}: algorithm ${algo} is not available in the ${design} design (it has ${DESIGN_ALGOS[design].join(', ')})`);
  },
  frontend(l: Limits, fe: Frontend, index: number): void {
    need(u32(fe.addr), `frontend ${fe.addr}: address is not an IPv4 u32`);
    need(u16(fe.port) && fe.port !== 0, `frontend port ${fe.port} is not in 1..65535`);
    need(KUBERNETES_PROTOCOLS.some((name) => PROTO[name] === fe.proto), `frontend protocol ${fe.proto} is not TCP, UDP or SCTP`);
    need(Number.isInteger(index) && index >= 0 && index < l.maxServices, `frontend service index ${index} outside 0..${l.maxServices - 1}`);
    need(fe.scope === undefined || fe.scope in SCOPE, `frontend scope ${fe.scope} is not any, external or internal`);
    if (fe.scope && fe.scope !== 'any') need(fe.node !== undefined && Number.isInteger(fe.node) && fe.node >= 0 && fe.node < l.maxNodes, `frontend scoped to node ${fe.node}: not a node id`);
  },
  sourceRange(l: Limits, index: number, addr: number, plen: number): void {
    need(Number.isInteger(index) && index >= 0 && index < l.maxServices, `source range: service index ${index} outside 0..${l.maxServices - 1}`);
    need(u32(addr) && Number.isInteger(plen) && plen >= 0 && plen <= 32, `source range ${addr}/${plen} is not an IPv4 CIDR`);
  },
  ipcache(addr: number, plen: number, info: EndpointInfo): void {
    need(u32(addr) && Number.isInteger(plen) && plen >= 0 && plen <= 32, `ipcache prefix ${addr}/${plen} is not an IPv4 CIDR`);
    need(u32(info.identity) && u32(info.endpoint) && u16(info.node) && u16(info.flags), `ipcache entry for ${addr}/${plen}: fields out of range`);
  },
  policy(k: PolicyKey, v?: PolicyValue): void {
    const plen = portPrefixOf(k);
    need(u32(k.endpoint) && u32(k.identity) && u16(k.port) && Number.isInteger(k.proto) && k.proto >= 0 && k.proto <= 255
      && Number.isInteger(plen) && plen >= 0 && plen <= 16, `policy key ${JSON.stringify(k)}: fields out of range`);
    need(k.dir === DIR.INGRESS || k.dir === DIR.EGRESS, `policy key: direction ${k.dir} is not 0 (ingress) or 1 (egress)`);
    need(k.proto !== 0 || (k.port === 0 && plen === 0), `policy key ${JSON.stringify(k)}: any protocol (0) takes no port`);
    need((k.port & ~portBlockMask(plen) & 0xffff) === 0, `policy key ${JSON.stringify(k)}: port ${k.port} has bits below its /${plen} block`);
    if (v) need(u32(v.rule) && (v.verdict === POLICY_VERDICT.ALLOW || v.verdict === POLICY_VERDICT.DENY || v.verdict === POLICY_VERDICT.DENIED), `policy value ${JSON.stringify(v)}: bad rule or verdict`);
  },
  time(nowMs: number): void {
    need(Number.isSafeInteger(nowMs) && nowMs >= 0, `virtual time ${nowMs} ms is not a whole number of ms >= 0`);
  },
  batch(owner: Dataplane, batch: PacketBatch, count: number): void {
    need(batch instanceof PacketBatch && batch.owner === owner, 'this batch was not made by this dataplane\'s allocBatch()');
    need(Number.isInteger(count) && count >= 0 && count <= batch.capacity, `packet count ${count} outside batch of ${batch.capacity}`);
  },
  /** The key fields of a frontend (deleteFrontend): as frontend() checks them, without a service index. */
  frontendKey(l: Limits, fe: Frontend): void {
    need(typeof fe === 'object' && fe !== null, 'frontend: not an object');
    check.frontend(l, fe, 0);
  },
  nodeId(l: Limits, id: number, what = 'flow'): void {
    need(Number.isInteger(id) && id >= 0 && id < l.maxNodes, `${what}: node ${id} is not an id in 0..${l.maxNodes - 1}`);
  },
  backendId(l: Limits, id: number, what: string): void {
    need(Number.isInteger(id) && id >= 0 && id < l.maxBackends, `${what}: backend ${id} is not an id in 0..${l.maxBackends - 1}`);
  },
  flush(l: Limits, backend: number, proto: number): void {
    check.backendId(l, backend, 'flushBackend');
    need(proto === 0 || isKnownProtocol(proto), `flushBackend: protocol ${proto} is not 0 (all), 1, 6, 17 or 132`);
  },
  prefix(addr: number, plen: number, what: string): void {
    need(u32(addr) && Number.isInteger(plen) && plen >= 0 && plen <= 32, `${what}: ${addr}/${plen} is not an IPv4 CIDR`);
  },
  tuple(saddr: number, daddr: number, sport: number, dport: number, proto: number): void {
    need(u32(saddr) && u32(daddr) && u16(sport) && u16(dport) && Number.isInteger(proto) && proto >= 0 && proto <= 255,
      `flow: ${saddr},${daddr},${sport},${dport},${proto} is not an IPv4 5-tuple`);
  },
  full(what: string, count: number, max: number, option: string): void {
    if (count >= max) throw tableFull(what, max, option);
  },
};

/** The error of a full map: names the map and its capacity. */
export function tableFull(map: string, max: number, option: string): CapacityError {
  return new CapacityError(`${map}: table full (${max} entries); raise ${option}`, map, max);
}

/**
 * Virtual time. The core keeps times as u32 ms (about 49.7 days); a simulation runs longer. Both backends
 * keep a time origin: the core sees `now - origin`, and once that reaches REBASE_AT the origin moves forward
 * to MAX_SPAN_MS before now and every stored time (flow expiry, affinity use) moves back by as much
 * (timeRebase in the core, the same in the reference). Lifetimes and timeouts are at most MAX_SPAN_MS, so a
 * stored time that falls before the new origin had expired anyway.
 */
export const TIME = { MAX_SPAN_MS: 2 ** 30, REBASE_AT_MS: 2 ** 31 } as const;

export class TimeOrigin {
  /** Absolute ms of the core's time 0. */
  origin = 0;
  /** `nowMs` as the core's time, moving the origin (after `rebase(delta)`) when it is far enough behind. */
  core(nowMs: number, rebase: (delta: number) => void): number {
    check.time(nowMs);
    need(nowMs >= this.origin, `virtual time ${nowMs} ms is before ${this.origin} ms, where this dataplane's clock origin has moved (after a run past 2^31 ms, time only moves forward)`);
    const rel = nowMs - this.origin;
    if (rel < TIME.REBASE_AT_MS) return rel;
    const delta = rel - TIME.MAX_SPAN_MS;
    rebase(Math.min(delta, 0xffffffff)); // all stored times are below 2^32: a larger delta sets them all to 0 alike
    this.origin += delta;
    return TIME.MAX_SPAN_MS;
  }
}

/** Decode the raw counter slots into named figures. */
export function decodeCounters(raw: readonly bigint[]): Counters {
  const n = (i: number) => Number(raw[i]);
  const verdicts: Record<string, number> = {};
  VERDICT_NAMES.forEach((name, i) => { if (i > 0) verdicts[name] = n(COUNTER.VERDICT + i); });
  const drops: Record<string, number> = {};
  DROP_REASON_NAMES.forEach((name, i) => { if (i > 0 && raw[COUNTER.DROP + i] !== 0n) drops[name] = n(COUNTER.DROP + i); });
  return {
    verdicts, drops, ctCreated: n(COUNTER.CT_CREATED), ctEvicted: n(COUNTER.CT_EVICTED), ctExpired: n(COUNTER.CT_EXPIRED),
    affinityEvicted: n(COUNTER.AFFINITY_EVICTED), packets: n(COUNTER.PACKETS), bytes: n(COUNTER.BYTES),
    policyLookups: n(COUNTER.POLICY_LOOKUPS), ipvsSchedulerEvicted: n(COUNTER.IPVS_SCHED_EVICTED),
  };
}
