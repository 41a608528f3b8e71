// The reference backend: the same semantics as the WebAssembly core, written
// the obvious way (objects and Maps, one packet decoded at a time). It is the
// oracle of the differential tests, so it favours plainness over speed. Every
// rule here is stated once more in assembly/*.ts next to the fast version.
//
// LRU maps (conntrack, affinity) are JS Maps in insertion order with a
// `referenced` flag per entry, evicted by second chance as assembly/maps/lru.ts
// does: the oldest unreferenced entry goes; an older referenced one has its
// flag cleared and moves to the back (delete + set). Every node's own tables are
// in its shard's Map (node n in shard n mod limits.shards), as the core's are.

import {
  Dataplane, Options, ResolvedOptions, Backend, ServiceConfig, Frontend, EndpointInfo, PolicyKey, PolicyValue,
  FlowInfo, LiveFlow, Counters, DataplaneState, DataplaneError, CapacityError, resolveOptions, check, decodeCounters, TimeOrigin, ALGO, Algorithm, SVC_FLAG, IPC_FLAG,
  DIR, POLICY_VERDICT, IDENTITY, SCOPE, portPrefixOf, portBlockMask,
} from '../dataplane.js';
import { PacketBatch, PacketRecord, NONE, NODE_NONE, PKT, PROTO, TCP, VERDICT, DROP, CT_STATE, NAT, COUNTER } from '../packet.js';
import { hasPorts, isKnownProtocol } from '../protocols.js';
import { Prng, NODE_SPACING } from '../common/prng.js';
import { runEnd } from './runs.js';
import { encodeFields, restoreFields } from '../common/serial.js';
import { hashTuple } from '../common/hash.js';
import { prefixMask } from '../common/ip.js';
import { KubeServicesChain } from '../controlplane/kubeServices.js';
// One module per design (src/reference/designs/): each design's endpoint choice, as assembly/designs/ has the core's.
import { ebpfPick } from './designs/ebpf.js';
import { iptablesPick, iptablesMark, MARK_MASQ } from './designs/iptables.js';
import { nftPick } from './designs/nftables.js';
import { ipvsSchedule, ipvsServiceChanged, IpvsState } from './designs/ipvs.js';

interface Tuple { saddr: number; daddr: number; sport: number; dport: number; proto: number }
/** A conntrack key: the tuple on a node (every node has its own conntrack: assembly/conntrack.ts). */
const tupleKey = (t: Tuple, node: number) => `${node}:${t.saddr},${t.daddr},${t.sport},${t.dport},${t.proto}`;

// Flow state bits (assembly/conntrack.ts CTF_*): DST_REMOTE says a second hop is due toward the destination's node;
// IPVS_COUNTED that the flow is in its node's connection counts (ipvs, a scheduler weighing them).
const SEEN_NON_SYN = 1, TX_CLOSING = 2, RX_CLOSING = 4, SEEN_REPLY = 8, SNAT = 16, DST_REMOTE = 32, IPVS_COUNTED = 64;
/** The ipvs schedulers that weigh the destinations' connection counts. */
const WEIGHS_CONNECTIONS = new Set<Algorithm>(['lc', 'wlc', 'sed', 'nq']);
const STATE_SHOWN = 0x1f; // FlowInfo.state: the conntrack state and SNAT (src/records.ts FLOW_STATE_SHOWN)
/** Whether IPVS counts a flow in this state as an inactive connection (assembly/conntrack.ts ipvsInactive). */
const ipvsInactive = (proto: number, state: number): boolean =>
  proto === PROTO.TCP ? (state & (TX_CLOSING | RX_CLOSING)) !== 0 : proto === PROTO.SCTP ? (state & SEEN_REPLY) === 0 : true;

interface Flow {
  key: Tuple; node: number; nat: Tuple; service: number; backend: number;
  expires: number; state: number; revision: number; packets: number; bytes: number;
  referenced: boolean; // looked up since its last second chance (LRU)
}
/** returnNode: where replies go on to (NODE_NONE: nowhere), as assembly/records.ts Reply. */
interface ReplyEntry { flowKey: Tuple; node: number; packets: number; bytes: number; returnNode: number }
/** `active`: live flows; `inactive`: those of them IPVS counts as inactive connections (ipvsInactive). */
interface RefBackend extends Required<Backend> { active: number; inactive: number }
interface RefService { algo: Algorithm; flags: number; affinityMs: number; affinityGroup: number; backends: number[]; maglev?: Uint16Array; rr: number }
/** ipvs: one node's scheduler state of one service (assembly/designs/ipvs.ts nodeSched), an LRU entry. */
interface NodeSched { index: number; node: number; state: IpvsState; referenced: boolean }
interface Affinity { backend: number; lastUsed: number }

type Out = Omit<PacketRecord, keyof Required<import('../packet.js').PacketIn>>;

/** The entry a full LRU map gives up: the oldest not referenced since its last second chance. */
function secondChanceVictim<V extends { referenced: boolean }>(m: Map<string, V>): [string, V] {
  for (;;) {
    const [k, v] = m.entries().next().value as [string, V];
    if (!v.referenced) return [k, v];
    v.referenced = false;
    m.delete(k); m.set(k, v);
  }
}

export class ReferenceDataplane implements Dataplane {
  readonly kind = 'reference' as const;
  readonly options: ResolvedOptions;
  /** Every node's own random numbers (assembly/prng.ts): node -> its stream's state (from its address: setNode). */
  private readonly prngStates = new Map<number, number>();
  private readonly drawer = new Prng(0);
  private readonly nodes = new Map<number, number>();
  /** Nodes that have failed (setNode with up false): packets entering or crossing to them are lost. */
  private readonly downNodes = new Set<number>();
  /**
   * ipvs, per node as each node's kernel keeps them (assembly/designs/ipvs.ts): scheduler states by
   * "index/node", an LRU (made on a node's first rr/wrr choice for the service; capacity as the core's), and
   * connection counts by "backend/node" (live, and of them inactive), removed at zero.
   */
  private readonly ipvsSched: Map<string, NodeSched>[];
  private readonly ipvsConns = new Map<string, { live: number; inactive: number }>();
  private readonly backends = new Map<number, RefBackend>();
  private readonly services = new Map<number, RefService>();
  private readonly frontends = new Map<string, number>(); // "vip,port,proto,scope,node" -> service
  /** iptables design: KUBE-SERVICES, scanned rule by rule (the frontends map is unused). */
  private readonly chain?: KubeServicesChain;
  private readonly sourceRanges = new Map<number, Set<string>>(); // service -> "addr/plen" (masked)
  private sourceRangeCount = 0;
  private readonly ipcache = new Map<string, EndpointInfo>();
  private readonly policy = new Map<string, PolicyValue>();
  /** Per shard (shardOf): conntrack flows, and ClientIP affinity. */
  private readonly flows: Map<string, Flow>[];
  private readonly replies = new Map<string, ReplyEntry>();
  private readonly affinity: Map<string, Affinity & { referenced: boolean }>[];
  private readonly count = new Array<bigint>(COUNTER.LENGTH).fill(0n);
  private revision = 1;
  /** The time origin (TimeOrigin): times here are relative to it, as the core's are, rebased alike. */
  private readonly clock = new TimeOrigin();
  private slotsUsed = 0;
  private cellsUsed = 0;

  constructor(options: Options = {}) {
    this.options = resolveOptions(options);
    const shards = this.options.limits.shards;
    this.flows = Array.from({ length: shards }, () => new Map());
    this.affinity = Array.from({ length: shards }, () => new Map());
    this.ipvsSched = Array.from({ length: shards }, () => new Map());
    if (this.options.design === 'iptables') this.chain = new KubeServicesChain();
  }

  private bump(i: number, by = 1): void { this.count[i] += BigInt(by); }

  /** The shard holding node `node`'s tables (assembly/tables.ts shardOf). */
  private shardOf(node: number): number { return node & (this.options.limits.shards - 1); }
  /** Each shard's share of a capacity (assembly/tables.ts: rounded up). */
  private perShard(capacity: number): number { return Math.ceil(capacity / this.options.limits.shards); }
  private allFlows(): Flow[] { return this.flows.flatMap((m) => [...m.values()]); }

  /** Draw with node `node`'s own random numbers. */
  private withPrng<T>(node: number, pick: (r: Prng) => T): T {
    this.drawer.state = this.prngStates.get(node) ?? ((this.options.seed + Math.imul(node, NODE_SPACING)) >>> 0);
    const out = pick(this.drawer);
    this.prngStates.set(node, this.drawer.state);
    return out;
  }

  /** The fields packets and control calls change (options and the KUBE-SERVICES chain come from the control calls). */
  private static readonly STATE_FIELDS = ['clock', 'prngStates', 'nodes', 'downNodes', 'ipvsSched', 'ipvsConns', 'backends', 'services', 'frontends', 'sourceRanges', 'sourceRangeCount',
    'ipcache', 'policy', 'flows', 'replies', 'affinity', 'count', 'revision', 'slotsUsed', 'cellsUsed'] as const;

  exportState(): DataplaneState {
    return { kind: 'reference', fields: encodeFields(this, ReferenceDataplane.STATE_FIELDS) };
  }

  importState(state: DataplaneState): void {
    if (state.kind !== 'reference') throw new DataplaneError('state of another kind of dataplane');
    restoreFields(this, state.fields);
  }

  // ---- control plane -------------------------------------------------------

  setNode(id: number, addr: number, up = true): void {
    check.node(this.options.limits, id, addr);
    this.nodes.set(id, addr);
    // Its random numbers start from its address, the first time it has one (assembly/prng.ts prngNodeAddress).
    if (addr !== 0 && !this.prngStates.has(id)) this.prngStates.set(id, (this.options.seed + Math.imul(addr, NODE_SPACING)) >>> 0);
    if (up && addr !== 0) this.downNodes.delete(id); else this.downNodes.add(id);
  }

  setBackend(id: number, b: Backend): void {
    check.backend(this.options.limits, id, b);
    const old = this.backends.get(id);
    this.backends.set(id, { addr: b.addr, port: b.port, node: b.node, weight: b.weight ?? 1, valid: b.valid !== false,
      active: old?.active ?? 0, inactive: old?.inactive ?? 0 });
  }

  setService(index: number, s: ServiceConfig): void {
    const l = this.options.limits;
    check.algoInDesign(this.options.design, index, s.algo);
    check.service(l, index, s, (id) => this.backends.has(id));
    const old = this.services.get(index);
    const m = s.algo === 'maglev' && s.backends.length > 0 ? s.maglev!.length : 0;
    const slots = this.slotsUsed - (old?.backends.length ?? 0) + s.backends.length;
    const cells = this.cellsUsed - (old?.maglev?.length ?? 0) + m;
    if (slots > l.maxSlots) throw new CapacityError(`service ${index}: no room for ${s.backends.length} backend slots (maxSlots ${l.maxSlots})`, 'backendSlots', l.maxSlots);
    if (cells > l.maxMaglevCells) throw new CapacityError(`service ${index}: no room for ${m} Maglev cells (maxMaglevCells ${l.maxMaglevCells})`, 'maglevCells', l.maxMaglevCells);
    this.slotsUsed = slots; this.cellsUsed = cells;
    this.services.set(index, {
      algo: s.algo, flags: s.flags ?? 0, affinityMs: Math.round((s.affinityTimeout ?? 0) * 1000), affinityGroup: s.affinityGroup ?? index,
      backends: [...s.backends], maglev: m > 0 ? Uint16Array.from(s.maglev!) : undefined, rr: old?.rr ?? 0,
    });
    // Every node's scheduler of the service sees the change (kube-proxy syncs every node).
    if (this.options.design === 'ipvs') {
      for (const m of this.ipvsSched) for (const e of m.values()) if (e.index === index) e.state = ipvsServiceChanged(e.state, this.dests(s.backends, e.node));
    }
  }

  private frontendKey(fe: Frontend): string {
    const scope = SCOPE[fe.scope ?? 'any'];
    return `${fe.addr},${fe.port},${fe.proto},${scope},${scope ? fe.node : 0}`;
  }
  upsertFrontend(fe: Frontend, index: number): void {
    check.frontend(this.options.limits, fe, index);
    if (this.chain) {
      if (!this.chain.has(fe)) check.full('frontends', this.chain.length, this.options.limits.maxFrontends, 'maxFrontends');
      this.chain.upsert(fe, index);
      return;
    }
    const k = this.frontendKey(fe);
    if (!this.frontends.has(k)) check.full('frontends', this.frontends.size, this.options.limits.maxFrontends, 'maxFrontends');
    this.frontends.set(k, index);
  }
  deleteFrontend(fe: Frontend): boolean {
    check.frontendKey(this.options.limits, fe);
    if (this.chain) return this.chain.delete(fe) >= 0;
    return this.frontends.delete(this.frontendKey(fe));
  }

  upsertSourceRange(index: number, addr: number, plen: number): void {
    check.sourceRange(this.options.limits, index, addr, plen);
    const set = this.sourceRanges.get(index) ?? new Set<string>();
    const k = `${(addr & prefixMask(plen)) >>> 0}/${plen}`;
    if (!set.has(k)) { check.full('source ranges', this.sourceRangeCount, this.options.limits.maxFrontends, 'maxFrontends'); this.sourceRangeCount++; }
    set.add(k);
    this.sourceRanges.set(index, set);
  }
  deleteSourceRange(index: number, addr: number, plen: number): boolean {
    check.sourceRange(this.options.limits, index, addr, plen);
    const gone = this.sourceRanges.get(index)?.delete(`${(addr & prefixMask(plen)) >>> 0}/${plen}`) ?? false;
    if (gone) this.sourceRangeCount--;
    return gone;
  }
  private inSourceRange(index: number, addr: number): boolean {
    const set = this.sourceRanges.get(index);
    if (!set) return false;
    for (let plen = 32; plen >= 0; plen--) if (set.has(`${(addr & prefixMask(plen)) >>> 0}/${plen}`)) return true;
    return false;
  }

  flushBackend(backend: number, proto: number): number {
    check.flush(this.options.limits, backend, proto);
    let removed = 0;
    for (const m of this.flows) {
      for (const [k, f] of [...m]) {
        if (f.backend === backend && (proto === 0 || f.key.proto === proto)) { this.removeFlow(k, f); removed++; }
      }
    }
    return removed;
  }

  flushNode(node: number): number {
    check.nodeId(this.options.limits, node, 'flushNode');
    let removed = 0;
    const shard = this.shardOf(node);
    for (const [k, f] of [...this.flows[shard]]) if (f.node === node) { this.removeFlow(k, f); removed++; }
    for (const k of [...this.affinity[shard].keys()]) if (k.endsWith(`,${node}`)) this.affinity[shard].delete(k);
    return removed;
  }

  /** The node's scoped entry for the source's side, else the frontend's own (assembly/lb.ts lookupService). */
  private lookupService(p: PacketRecord, internal: boolean): number | undefined {
    if (this.chain) {
      // KUBE-SERVICES, rule by rule: the first rule for the packet's destination (a node's scoped rules come first).
      const scope = internal ? SCOPE.internal : SCOPE.external;
      for (const r of this.chain.rules) {
        if (r.addr === p.daddr && r.port === p.dport && r.proto === p.proto && (r.scope === 0 || (r.scope === scope && r.node === p.node))) return r.target;
      }
      return undefined;
    }
    const scoped = this.frontends.get(`${p.daddr},${p.dport},${p.proto},${internal ? SCOPE.internal : SCOPE.external},${p.node}`);
    return scoped ?? this.frontends.get(`${p.daddr},${p.dport},${p.proto},0,0`);
  }

  upsertIpcache(addr: number, plen: number, info: EndpointInfo): void {
    check.ipcache(addr, plen, info);
    const k = `${(addr & prefixMask(plen)) >>> 0}/${plen}`;
    if (!this.ipcache.has(k)) check.full('ipcache', this.ipcache.size, this.options.limits.maxIpcache, 'maxIpcache');
    this.ipcache.set(k, { ...info });
  }
  deleteIpcache(addr: number, plen: number): boolean {
    check.prefix(addr, plen, 'ipcache');
    return this.ipcache.delete(`${(addr & prefixMask(plen)) >>> 0}/${plen}`);
  }

  private policyKey(k: PolicyKey): string { return `${k.endpoint},${k.identity},${k.port},${k.proto},${k.dir},${portPrefixOf(k)}`; }
  upsertPolicy(k: PolicyKey, v: PolicyValue): void {
    check.policy(k, v);
    const key = this.policyKey(k);
    if (!this.policy.has(key)) check.full('policy', this.policy.size, this.options.limits.maxPolicy, 'maxPolicy');
    this.policy.set(key, { ...v });
  }
  deletePolicy(k: PolicyKey): boolean { check.policy(k); return this.policy.delete(this.policyKey(k)); }
  policyChanged(): void {
    this.revision = (this.revision + 1) & 0xffffff;
    if (this.revision === 0) { for (const f of this.allFlows()) f.revision = 0; this.revision = 1; }
  }

  allocBatch(capacity: number): PacketBatch {
    if (!(Number.isInteger(capacity) && capacity > 0 && capacity <= 1 << 24)) throw new DataplaneError(`batch capacity ${capacity} not in 1..16777216`);
    const buf = new ArrayBuffer(capacity * PKT.STRIDE);
    return new PacketBatch(() => buf, 0, capacity, this);
  }

  ctCount(): number { return this.flows.reduce((n, m) => n + m.size, 0); }
  backendActive(id: number): number { check.backendId(this.options.limits, id, 'backendActive'); return this.backends.get(id)?.active ?? 0; }
  backendInactive(id: number): number { check.backendId(this.options.limits, id, 'backendInactive'); return this.backends.get(id)?.inactive ?? 0; }
  rawCounters(): bigint[] { return [...this.count]; }
  counters(): Counters { return decodeCounters(this.count); }

  flow(saddr: number, daddr: number, sport: number, dport: number, proto: number, nowMs: number, node = 0): FlowInfo | undefined {
    check.tuple(saddr, daddr, sport, dport, proto);
    check.nodeId(this.options.limits, node);
    const f = this.liveFlow({ saddr, daddr, sport, dport, proto }, node, this.coreTime(nowMs), false);
    if (!f) return undefined;
    return { natSaddr: f.nat.saddr, natDaddr: f.nat.daddr, natSport: f.nat.sport, natDport: f.nat.dport,
      service: f.service, backend: f.backend, expires: f.expires + this.clock.origin, state: f.state & STATE_SHOWN, packets: f.packets, bytes: f.bytes };
  }

  liveFlows(nowMs: number): LiveFlow[] {
    const now = this.coreTime(nowMs);
    const out: LiveFlow[] = [];
    for (const f of this.allFlows()) { // shard by shard, each oldest first (as the core's liveFlows)
      if (f.expires <= now) continue;
      out.push({ ...f.key, node: f.node, info: { natSaddr: f.nat.saddr, natDaddr: f.nat.daddr, natSport: f.nat.sport, natDport: f.nat.dport,
        service: f.service, backend: f.backend, expires: f.expires + this.clock.origin, state: f.state & STATE_SHOWN, packets: f.packets, bytes: f.bytes } });
    }
    return out;
  }

  // ---- conntrack -----------------------------------------------------------

  private replyKeyOf(f: Flow): string {
    return tupleKey({ saddr: f.nat.daddr, daddr: f.nat.saddr, sport: f.nat.dport, dport: f.nat.sport, proto: f.key.proto }, f.node);
  }

  /** A flow goes away: its reply entry and its backend's connection count go with it. */
  private removeFlow(key: string, f: Flow): void {
    this.flows[this.shardOf(f.node)].delete(key);
    this.replies.delete(this.replyKeyOf(f));
    if (f.backend !== NONE) {
      const b = this.backends.get(f.backend);
      if (b && b.active > 0) b.active--;
      if (b && b.inactive > 0 && ipvsInactive(f.key.proto, f.state)) b.inactive--;
      if (f.state & IPVS_COUNTED) {
        const k = `${f.backend}/${f.node}`, c = this.ipvsConns.get(k);
        if (c && c.live <= 1) this.ipvsConns.delete(k);
        else if (c) { c.live--; if (c.inactive > 0 && ipvsInactive(f.key.proto, f.state)) c.inactive--; }
      }
    }
  }

  private liveFlow(t: Tuple, node: number, now: number, touch: boolean): Flow | undefined {
    const key = tupleKey(t, node);
    const f = this.flows[this.shardOf(node)].get(key);
    if (!f) return undefined;
    if (touch) f.referenced = true;
    if (f.expires <= now) {
      this.removeFlow(key, f);
      this.bump(COUNTER.CT_EXPIRED);
      return undefined;
    }
    return f;
  }

  private liveReply(t: Tuple, node: number, now: number, touch: boolean): { reply: ReplyEntry; flow: Flow } | undefined {
    const reply = this.replies.get(tupleKey(t, node));
    if (!reply) return undefined;
    const flow = this.liveFlow(reply.flowKey, reply.node, now, touch);
    return flow ? { reply, flow } : undefined;
  }

  /** TCP state and lifetime after a packet (Cilium's conntrack rules; see assembly/conntrack.ts). */
  private refresh(f: Flow, proto: number, flags: number, reply: boolean, now: number): number {
    const lt = this.options.lifetimesMs;
    let result: number = reply ? CT_STATE.REPLY : CT_STATE.ESTABLISHED;
    let lifetime = lt.nonTcp;
    const wasInactive = ipvsInactive(proto, f.state);
    if (reply) f.state |= SEEN_REPLY;
    if (proto === PROTO.TCP) {
      if (flags & TCP.SYN && f.state & (TX_CLOSING | RX_CLOSING)) {
        f.state &= ~(TX_CLOSING | RX_CLOSING | SEEN_NON_SYN);
        result = CT_STATE.REOPENED;
      }
      if (flags & TCP.RST) f.state |= TX_CLOSING | RX_CLOSING;
      else if (flags & TCP.FIN) f.state |= reply ? RX_CLOSING : TX_CLOSING;
      if (!(flags & TCP.SYN)) f.state |= SEEN_NON_SYN;
      const closing = (f.state & (TX_CLOSING | RX_CLOSING)) === (TX_CLOSING | RX_CLOSING);
      lifetime = closing ? lt.close : f.state & SEEN_NON_SYN ? lt.tcp : lt.syn;
    }
    const inactive = ipvsInactive(proto, f.state);
    if (inactive !== wasInactive && f.backend !== NONE) {
      const b = this.backends.get(f.backend);
      if (b) b.inactive = inactive ? b.inactive + 1 : Math.max(b.inactive, 1) - 1;
      const c = f.state & IPVS_COUNTED ? this.ipvsConns.get(`${f.backend}/${f.node}`) : undefined;
      if (c) c.inactive = inactive ? c.inactive + 1 : Math.max(c.inactive, 1) - 1;
    }
    f.expires = Math.min(now + lifetime, 0xffffffff);
    return result;
  }

  private createFlow(key: Tuple, node: number, nat: Tuple, service: number, backend: number, state: number, returnNode: number, now: number): Flow {
    const flows = this.flows[this.shardOf(node)];
    if (flows.size >= this.perShard(this.options.limits.maxFlows)) {
      const [victimKey, victim] = secondChanceVictim(flows);
      this.removeFlow(victimKey, victim);
      this.bump(COUNTER.CT_EVICTED);
    }
    const f: Flow = { key, node, nat, service, backend, expires: 0, state, revision: this.revision, packets: 0, bytes: 0, referenced: false };
    flows.set(tupleKey(key, node), f);
    this.replies.set(this.replyKeyOf(f), { flowKey: key, node, packets: 0, bytes: 0, returnNode });
    if (backend !== NONE) {
      const b = this.backends.get(backend)!;
      b.active++;
      if (ipvsInactive(key.proto, state)) b.inactive++;
      if (state & IPVS_COUNTED) {
        const k = `${backend}/${node}`, c = this.ipvsConns.get(k);
        if (c) { c.live++; if (ipvsInactive(key.proto, state)) c.inactive++; }
        else this.ipvsConns.set(k, { live: 1, inactive: ipvsInactive(key.proto, state) ? 1 : 0 });
      }
    }
    this.bump(COUNTER.CT_CREATED);
    return f;
  }

  /** Absolute ms as the core's time (TimeOrigin), moving every stored time back as the core does when it rebases. */
  private coreTime(nowMs: number): number {
    return this.clock.core(nowMs, (delta) => {
      for (const f of this.allFlows()) f.expires = f.expires > delta ? f.expires - delta : 0;
      for (const m of this.affinity) for (const a of m.values()) a.lastUsed = a.lastUsed > delta ? a.lastUsed - delta : 0;
    });
  }

  gc(absMs: number): number {
    const nowMs = this.coreTime(absMs);
    let removed = 0;
    for (const m of this.flows) {
      for (const [k, f] of [...m]) {
        if (f.expires <= nowMs) { this.removeFlow(k, f); removed++; }
      }
    }
    this.bump(COUNTER.CT_EXPIRED, removed);
    return removed;
  }

  // ---- identities and policy ----------------------------------------------

  private resolve(addr: number): EndpointInfo {
    for (let plen = 32; plen >= 0; plen--) {
      const e = this.ipcache.get(`${(addr & prefixMask(plen)) >>> 0}/${plen}`);
      if (e) return e;
    }
    return { identity: IDENTITY.WORLD, endpoint: 0, node: 0xffff, flags: 0 };
  }

  /**
   * Verdict of an enforced subject: the most specific entry decides. Peer identity before any
   * identity; within each, the protocol's port blocks from one port (/16) to all (/0), then any protocol.
   */
  private check(endpoint: number, peer: number, dir: number, proto: number, port: number): { ok: boolean; deny: boolean; rule: number } {
    this.bump(COUNTER.POLICY_LOOKUPS);
    const candidates: PolicyKey[] = [];
    for (const identity of peer !== 0 ? [peer, 0] : [0]) {
      for (let plen = 16; plen >= 0; plen--) {
        candidates.push({ endpoint, identity, dir, proto, port: port & portBlockMask(plen), portPrefix: plen });
      }
      candidates.push({ endpoint, identity, dir, proto: 0, port: 0, portPrefix: 0 });
    }
    for (const k of candidates) {
      const v = this.policy.get(this.policyKey(k));
      if (!v) continue;
      return { ok: v.verdict === POLICY_VERDICT.ALLOW, deny: v.verdict === POLICY_VERDICT.DENY, rule: v.rule };
    }
    return { ok: false, deny: false, rule: 0 };
  }

  /**
   * Client egress, then destination ingress seeing the post-SNAT source. Returns [drop reason or 0, rule].
   * A pod's traffic to itself skips policy (policyAllowSelf); egress to the client's own node skips egress
   * policy (policyEgressToOwnNode); the destination's own node always gets in.
   */
  private flowPolicy(saddr: number, natSaddr: number, daddr: number, dport: number, proto: number): [number, number] {
    if (saddr === daddr && this.options.policyAllowSelf) return [0, 0];
    const src = this.resolve(saddr), dst = this.resolve(daddr);
    let rule = 0;
    const ownNode = this.options.policyEgressToOwnNode && (dst.flags & IPC_FLAG.HOST) !== 0 && dst.node === src.node;
    if (src.flags & IPC_FLAG.ENFORCE_EGRESS && !ownNode) {
      const r = this.check(src.endpoint, dst.identity, DIR.EGRESS, proto, dport);
      rule = r.rule;
      if (!r.ok) return [r.deny ? DROP.POLICY_DENY : DROP.POLICY_DENIED, rule];
    }
    if (dst.flags & IPC_FLAG.ENFORCE_INGRESS) {
      const peer = this.resolve(natSaddr);
      if (peer.flags & IPC_FLAG.HOST && peer.node === dst.node) return [0, rule]; // own node may always reach its pods
      const r = this.check(dst.endpoint, peer.identity, DIR.INGRESS, proto, dport);
      rule = r.rule;
      if (!r.ok) return [r.deny ? DROP.POLICY_DENY : DROP.POLICY_DENIED, rule];
    }
    return [0, rule];
  }

  // ---- load balancing --------------------------------------------------------

  /** The destinations as `node`'s IPVS sees them: weights, and that node's connection counts. */
  private dests(ids: readonly number[], node: number) {
    return ids.map((id) => {
      const c = this.ipvsConns.get(`${id}/${node}`);
      return { weight: this.backends.get(id)!.weight, active: c ? c.live - c.inactive : 0, inactive: c?.inactive ?? 0 };
    });
  }

  /** `node`'s scheduler state of service `index`: marked used, or made (evicting as the core's LRU does). */
  private nodeSched(index: number, node: number, s: RefService): IpvsState {
    const k = `${index}/${node}`;
    const sched = this.ipvsSched[this.shardOf(node)];
    const e = sched.get(k);
    if (e) { e.referenced = true; return e.state; }
    // The core's capacity: every (service, node) pair (an array up to 2^22 pairs), else an LRU of the pairs or the
    // conntrack's capacity if fewer.
    const l = this.options.limits, pairs = Math.max(l.maxServices * l.maxNodes, 1);
    if (pairs > 1 << 22 && sched.size >= Math.min(this.perShard(l.maxFlows), pairs)) {
      sched.delete(secondChanceVictim(sched)[0]);
      this.bump(COUNTER.IPVS_SCHED_EVICTED);
    }
    const state = ipvsServiceChanged(undefined, this.dests(s.backends, node));
    sched.set(k, { index, node, state, referenced: false });
    return state;
  }

  private pickSlot(index: number, s: RefService, t: Tuple, node: number): number {
    const n = s.backends.length;
    switch (this.options.design) {
      case 'iptables': return this.withPrng(node, (r) => iptablesPick(r, n));
      case 'nftables': return this.withPrng(node, (r) => nftPick(r, n));
      case 'ipvs': {
        const st = s.algo === 'rr' || s.algo === 'wrr' ? this.nodeSched(index, node, s) : { rr: -1, cl: -1, cw: 0 };
        const i = ipvsSchedule(st, s.algo, this.dests(s.backends, node), t.saddr, t.daddr);
        return i < 0 ? NONE : i;
      }
      case 'ebpf': return this.withPrng(node, (r) => ebpfPick(r, s, t, this.options.hashSeed, (id) => this.backends.get(id)!));
    }
  }

  private selectBackend(index: number, s: RefService, t: Tuple, node: number, now: number): { backend: number; byAffinity: boolean } {
    if (s.backends.length === 0) return { backend: NONE, byAffinity: false };
    // The client's affinity is kept per affinity group (the service port's under kube-proxy's rules), on each
    // node apart (kube-proxy's `recent` lists live in each node's kernel).
    const key = `${t.saddr},${s.affinityGroup ?? index},${node}`;
    let backend = NONE, byAffinity = false;
    if (s.affinityMs !== 0) {
      const a = this.affinity[this.shardOf(node)].get(key);
      if (a && ((now - a.lastUsed) >>> 0) < s.affinityMs && s.backends.includes(a.backend)) {
        backend = a.backend; byAffinity = true;
      }
    }
    if (backend === NONE) {
      const slot = this.pickSlot(index, s, t, node);
      if (slot === NONE) return { backend: NONE, byAffinity: false };
      backend = s.backends[slot];
    }
    if (s.affinityMs !== 0) {
      const a = this.affinity[this.shardOf(node)].get(key);
      if (a) Object.assign(a, { backend, lastUsed: now, referenced: true });
      else {
        const affinity = this.affinity[this.shardOf(node)];
        if (affinity.size >= this.perShard(this.options.limits.maxAffinity)) {
          affinity.delete(secondChanceVictim(affinity)[0]);
          this.bump(COUNTER.AFFINITY_EVICTED);
        }
        affinity.set(key, { backend, lastUsed: now, referenced: false });
      }
    }
    return { backend, byAffinity };
  }

  /** Source port: the client's own when free and not masqueraded, else the first free hashed candidate. */
  private sourcePort(orig: Tuple, node: number, natSaddr: number, daddr: number, dport: number, keepPort: boolean, now: number): number {
    const taken = (port: number) => // this node's reply entries: NAT is per node
      this.liveReply({ saddr: daddr, daddr: natSaddr, sport: dport, dport: port, proto: orig.proto }, node, now, false) !== undefined;
    if (keepPort && !taken(orig.sport)) return orig.sport;
    const { min, max, tries } = this.options.natPorts;
    const range = max - min + 1;
    const start = hashTuple(orig.saddr, orig.daddr, orig.sport, orig.dport, orig.proto, (this.options.hashSeed ^ 0x5a5a5a5a) >>> 0) % range;
    for (let i = 0; i < tries; i++) {
      const port = min + ((start + i) % range);
      if (!taken(port)) return port;
    }
    return -1;
  }

  // ---- the pipeline ------------------------------------------------------------

  /**
   * Runs of packets (./runs.ts): first every packet's hop on the node it enters, then the second hops of those due
   * one, each phase shard by shard and in input order within a shard (as assembly/pipeline.ts processShare; the
   * order of shards matters only to the ebpf design's rr and lc, whose state is one for the whole cluster).
   */
  process(batch: PacketBatch, count: number, absMs: number): number {
    check.batch(this, batch, count);
    const nowMs = this.coreTime(absMs);
    let forwarded = 0;
    let nodesKnown = 0;
    for (const addr of this.nodes.values()) if (addr !== 0) nodesKnown++;
    const byShard = <T>(xs: T[], node: (x: T) => number) => xs.map((x, i) => ({ x, i, s: this.shardOf(node(x)) }))
      .sort((u, v) => u.s - v.s || u.i - v.i).map((u) => u.x);
    for (let a = 0; a < count;) {
      const b = runEnd(batch, a, count, nodesKnown, (id) => this.nodes.get(id) ?? 0, this.options.natPorts);
      const run: { p: PacketRecord; out?: Out; hop: number }[] = [];
      for (let i = a; i < b; i++) run.push({ p: batch.get(i), hop: NODE_NONE });
      for (const r of byShard(run, (r) => r.p.node)) {
        const { out, hop } = this.processOne(r.p, nowMs);
        r.out = out;
        r.hop = hop === 'destination' ? this.destinationNode(out.backend, out.outDaddr) : hop;
        if (r.hop === r.p.node || !this.nodes.get(r.hop)) r.hop = NODE_NONE; // no hop to the node itself or to an unknown one
      }
      for (const r of byShard(run.filter((r) => r.hop !== NODE_NONE), (r) => r.hop)) this.secondHop(r.p, r.out!, r.hop, nowMs);
      run.forEach((r, k) => {
        batch.setOutput(a + k, r.out!);
        if (r.out!.verdict === VERDICT.FORWARDED) forwarded++;
        this.bump(COUNTER.VERDICT + r.out!.verdict);
      });
      a = b;
    }
    return forwarded;
  }

  private invalid(p: PacketRecord): number {
    if (!isKnownProtocol(p.proto)) return DROP.UNKNOWN_L4_PROTOCOL;
    if (p.saddr === 0 || p.saddr >= 0xe0000000) return DROP.INVALID_SOURCE_IP;
    if (p.daddr === 0) return DROP.INVALID_PACKET;
    if (hasPorts(p.proto) && (p.sport === 0 || p.dport === 0)) return DROP.INVALID_PACKET;
    if (!this.nodes.get(p.node)) return DROP.INVALID_PACKET;
    if (this.downNodes.has(p.node)) return DROP.NODE_DOWN; // a failed node receives nothing
    return 0;
  }

  /** The node owning an address: a pod's node, or a node's own address's; NODE_NONE for any other. */
  private owner(addr: number): number {
    const e = this.resolve(addr);
    return e.flags & (IPC_FLAG.POD | IPC_FLAG.HOST) ? e.node : NODE_NONE;
  }

  /**
   * One packet on the node it enters; returns where it goes on to when it leaves toward an address another node
   * owns (its second hop, made after the run's first hops: process).
   */
  private processOne(p: PacketRecord, now: number): { out: Out; hop: number | 'destination' } {
    const out: Out = {
      outSaddr: p.saddr, outDaddr: p.daddr, outSport: p.sport, outDport: p.dport, verdict: 0, dropReason: 0,
      ctState: 0, natFlags: 0, service: NONE, backend: NONE, policyRule: 0,
      hopNode: NODE_NONE, hopVerdict: 0, hopCtState: 0, hopNatFlags: 0,
    };
    const bad = this.invalid(p);
    if (bad) return { out: this.drop(out, VERDICT.DROPPED, bad), hop: NODE_NONE };
    this.bump(COUNTER.PACKETS); this.bump(COUNTER.BYTES, p.len);
    return { out, hop: this.firstHop(p, out, now) };
  }

  /** The node owning a flow's destination: its backend's node, or for a flow without one the address's owner. */
  private destinationNode(backend: number, daddr: number): number {
    return backend !== NONE ? this.backends.get(backend)!.node : this.owner(daddr);
  }

  private drop(out: Out, verdict: number, reason: number): Out {
    out.verdict = verdict; out.dropReason = reason; this.bump(COUNTER.DROP + reason); return out;
  }

  /**
   * The entry node's pipeline. Returns where the packet goes next: nowhere (NODE_NONE), the node owning its
   * destination, or, for a reply, the node its reply entry names.
   */
  private firstHop(p: PacketRecord, out: Out, now: number): number | 'destination' {
    const t: Tuple = { saddr: p.saddr, daddr: p.daddr, sport: p.sport, dport: p.dport, proto: p.proto };
    const drop = (verdict: number, reason: number): number => { this.drop(out, verdict, reason); return NODE_NONE; };

    // Conntrack, original direction.
    const f = this.liveFlow(t, p.node, now, true);
    if (f) {
      out.service = f.service; out.backend = f.backend;
      if (this.options.policyRecheckEstablished && f.revision !== this.revision) {
        const [reason, rule] = this.flowPolicy(p.saddr, f.nat.saddr, f.nat.daddr, f.nat.dport, p.proto);
        out.policyRule = rule;
        if (reason) { out.ctState = CT_STATE.ESTABLISHED; return drop(VERDICT.DROPPED, reason); }
        f.revision = this.revision;
      }
      out.ctState = this.refresh(f, p.proto, p.tcpFlags, false, now);
      out.outSaddr = f.nat.saddr; out.outDaddr = f.nat.daddr; out.outSport = f.nat.sport; out.outDport = f.nat.dport;
      out.natFlags = (f.service !== NONE ? NAT.DNAT : 0) | (f.state & SNAT ? NAT.SNAT : 0);
      f.packets = (f.packets + 1) >>> 0; f.bytes = (f.bytes + p.len) >>> 0;
      out.verdict = VERDICT.FORWARDED;
      return f.state & DST_REMOTE ? 'destination' : NODE_NONE;
    }

    // Conntrack, reply direction: back to what the client sent to.
    const r = this.liveReply(t, p.node, now, true);
    if (r) {
      out.service = r.flow.service; out.backend = r.flow.backend;
      out.ctState = this.refresh(r.flow, p.proto, p.tcpFlags, true, now);
      const k = r.reply.flowKey;
      out.outSaddr = k.daddr; out.outDaddr = k.saddr; out.outSport = k.dport; out.outDport = k.sport;
      if (r.flow.service !== NONE || r.flow.state & SNAT) out.natFlags = NAT.REVNAT;
      r.reply.packets = (r.reply.packets + 1) >>> 0; r.reply.bytes = (r.reply.bytes + p.len) >>> 0;
      out.verdict = VERDICT.FORWARDED;
      return r.reply.returnNode;
    }

    // A new flow. Pods, and the node the packet enters on, are internal sources;
    // anything else, other nodes included, is external.
    let dstAddr = p.daddr, dstPort = p.dport, natFlags = 0, masquerade = false, backend = NONE, counted = 0;
    const src = this.resolve(p.saddr), srcFlags = src.flags;
    const index = this.lookupService(p, (srcFlags & IPC_FLAG.POD) !== 0 || ((srcFlags & IPC_FLAG.HOST) !== 0 && src.node === p.node));
    if (index !== undefined) {
      const s = this.services.get(index);
      out.service = index;
      const flags = s?.flags ?? 0;
      if (flags & SVC_FLAG.SOURCE_RANGES && !this.inSourceRange(index, p.saddr)) return drop(VERDICT.DROPPED, DROP.NOT_IN_SRC_RANGE);
      const sel = s ? this.selectBackend(index, s, t, p.node, now) : { backend: NONE, byAffinity: false };
      backend = sel.backend;
      // kube-proxy rejects traffic to a service without endpoints (ICMP port unreachable),
      // but drops it when a Local policy leaves no local endpoint.
      if (backend === NONE) return drop(flags & SVC_FLAG.DROP_NO_BACKEND ? VERDICT.DROPPED : VERDICT.REJECTED, DROP.SERVICE_BACKEND_NOT_FOUND);
      out.backend = backend;
      if (this.options.design === 'ipvs' && WEIGHS_CONNECTIONS.has(s!.algo)) counted = IPVS_COUNTED;
      const b = this.backends.get(backend)!;
      dstAddr = b.addr; dstPort = b.port;
      natFlags = NAT.DNAT | (sel.byAffinity ? NAT.AFFINITY : 0);
      const srcIsPod = (srcFlags & IPC_FLAG.POD) !== 0;
      masquerade = this.options.design === 'iptables'
        ? (iptablesMark((s!.flags & SVC_FLAG.MASQ_ALWAYS) !== 0, (s!.flags & SVC_FLAG.MASQ_EXTERNAL) !== 0, srcIsPod, p.saddr, dstAddr) & MARK_MASQ) !== 0
        : p.saddr === dstAddr || (s!.flags & SVC_FLAG.MASQ_ALWAYS) !== 0 || ((s!.flags & SVC_FLAG.MASQ_EXTERNAL) !== 0 && !srcIsPod);
      if (p.saddr === dstAddr) natFlags |= NAT.HAIRPIN;
    }
    const natSaddr = masquerade ? this.nodes.get(p.node)! : p.saddr;

    const [reason, rule] = this.flowPolicy(p.saddr, natSaddr, dstAddr, dstPort, p.proto);
    out.policyRule = rule;
    if (reason) return drop(VERDICT.DROPPED, reason);

    const port = this.sourcePort(t, p.node, natSaddr, dstAddr, dstPort, !masquerade, now);
    if (port < 0) return drop(VERDICT.DROPPED, DROP.NAT_NO_MAPPING);
    const snat = masquerade || port !== p.sport;
    if (snat) natFlags |= NAT.SNAT;

    // Where a second hop is due: toward the destination's node, and replies toward the client's.
    const dstNode = this.destinationNode(backend, dstAddr), srcOwner = this.owner(p.saddr);
    const remote = dstNode !== NODE_NONE && dstNode !== p.node ? DST_REMOTE : 0;
    const flow = this.createFlow(t, p.node, { saddr: natSaddr, daddr: dstAddr, sport: port, dport: dstPort, proto: p.proto },
      index ?? NONE, backend, (snat ? SNAT : 0) | remote | counted, srcOwner !== p.node ? srcOwner : NODE_NONE, now);
    this.refresh(flow, p.proto, p.tcpFlags, false, now);
    flow.packets = 1; flow.bytes = p.len;
    out.ctState = CT_STATE.NEW; out.natFlags = natFlags;
    out.outSaddr = natSaddr; out.outDaddr = dstAddr; out.outSport = port; out.outDport = dstPort;
    out.verdict = VERDICT.FORWARDED;
    return remote ? 'destination' : NODE_NONE;
  }

  /**
   * The second hop: the node owning the packet's destination tracks it in its own conntrack (a flow of its own
   * without NAT, a live one, or a reply it reverse-NATs: the node that DNAT'd or masqueraded the flow).
   */
  private secondHop(p: PacketRecord, out: Out, node: number, now: number): void {
    if (node === NODE_NONE || node === p.node || !this.nodes.get(node)) return;
    out.hopNode = node;
    if (this.downNodes.has(node)) { // the node has failed: the entry node sent the packet, nobody receives it
      out.hopCtState = CT_STATE.NONE; out.hopVerdict = VERDICT.DROPPED;
      this.drop(out, VERDICT.DROPPED, DROP.NODE_DOWN);
      return;
    }
    const t: Tuple = { saddr: out.outSaddr, daddr: out.outDaddr, sport: out.outSport, dport: out.outDport, proto: p.proto };
    let nat = 0;
    const f = this.liveFlow(t, node, now, true);
    if (f) {
      out.hopCtState = this.refresh(f, p.proto, p.tcpFlags, false, now);
      f.packets = (f.packets + 1) >>> 0; f.bytes = (f.bytes + p.len) >>> 0;
    } else {
      const r = this.liveReply(t, node, now, true);
      if (r) {
        out.hopCtState = this.refresh(r.flow, p.proto, p.tcpFlags, true, now);
        if (r.flow.service !== NONE || r.flow.state & SNAT) {
          nat = NAT.REVNAT;
          const k = r.reply.flowKey;
          out.outSaddr = k.daddr; out.outDaddr = k.saddr; out.outSport = k.dport; out.outDport = k.sport;
        }
        if (r.flow.service !== NONE) { out.service = r.flow.service; out.backend = r.flow.backend; }
        r.reply.packets = (r.reply.packets + 1) >>> 0; r.reply.bytes = (r.reply.bytes + p.len) >>> 0;
      } else {
        // Its replies go back to the node it came from, which NATed it (and routes to the client).
        const created = this.createFlow(t, node, { ...t }, NONE, NONE, 0, p.node, now);
        this.refresh(created, p.proto, p.tcpFlags, false, now);
        created.packets = 1; created.bytes = p.len;
        out.hopCtState = CT_STATE.NEW;
      }
    }
    out.hopNatFlags = nat; out.hopVerdict = VERDICT.FORWARDED;
    out.natFlags |= nat;
  }
}
