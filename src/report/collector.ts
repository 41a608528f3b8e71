// RunCollector: the figures of a run, gathered while it runs, without an object per packet. The run loop
// hands it each processed batch as raw descriptor bytes (layout PKT, src/packet.ts); the collector reads the
// output fields (verdict, drop reason, conntrack state, NAT flags, service entry, backend, policy rule,
// length) into typed arrays and plain numbers. Names come later: the run tells it the cluster's service
// entries and backends (noteCluster, after every change) and at the end what the dataplane holds (finish),
// which turns the numbers into a RunReport.

import { IdTable } from '../common/idtable.js';
import {
  PKT, NONE, CT_STATE, CT_STATE_NAMES, VERDICT, VERDICT_NAMES, DROP, DROP_REASON_NAMES, NAT, PROTO, TCP, PacketBatch,
} from '../packet.js';
import type {
  BackendInfo, ConntrackEntry, Counters, Emulator, EmulatorBatch, EmulatorCapacity, PolicyRuleInfo, ServiceInfo,
} from '../api/types.js';
import { chiSquareTest } from './chisquare.js';
import type { DnsSummary, RunReport, ServiceDistribution, Tally, TimelinePoint } from './types.js';

/** One name lookup by one client, as the run's resolver made it. */
export interface DnsLookup {
  /** The client's address (or pod). */
  client: string;
  /** The name asked for, as the client wrote it. */
  name: string;
  /** Query type (A, AAAA, SRV, ...). */
  type: string;
  /** Queries sent for it (each name of the search list tried counts). */
  queries: number;
  /** The final answer code: NOERROR, NXDOMAIN, SERVFAIL, REFUSED; or what the run reports when no answer came. */
  rcode: string;
  /** No answer came because the dataplane dropped the query (an egress policy that blocks DNS). */
  blocked: boolean;
}

/** What the run knows at its end (runFinalOf(emulator, ...) gathers it through the API). */
export interface RunFinal {
  /** emulator.counters() */
  counters: Counters;
  /** emulator.conntrack() */
  conntrack: readonly ConntrackEntry[];
  /** emulator.capacity() */
  capacity: EmulatorCapacity;
  /** emulator.services() and emulator.backends() at the end. */
  services: readonly ServiceInfo[];
  backends: readonly BackendInfo[];
  /** emulator.policyRules(): the text of each rule id. */
  policyRules?: readonly PolicyRuleInfo[];
  /** Wall-clock milliseconds the run took, the virtual seconds it covered, and the packets its source made. */
  wallMs: number;
  virtualSeconds: number;
  generated: number;
  /** What ran, for the report's heading. */
  design?: string;
  backend?: string;
  seed?: number;
  /** The inputs by role (`cluster`, `traffic`, `pcap`), as the user named them. */
  inputs?: Record<string, string>;
}

/** Everything finish() needs from an emulator, with the run's own figures. */
export function runFinalOf(emu: Emulator, run: Pick<RunFinal, 'wallMs' | 'generated'> & Partial<Pick<RunFinal, 'virtualSeconds' | 'seed' | 'inputs'>>): RunFinal {
  return {
    counters: emu.counters(), conntrack: emu.conntrack(), capacity: emu.capacity(), services: emu.services(), backends: emu.backends(),
    policyRules: emu.policyRules(), design: emu.design, backend: emu.backend, virtualSeconds: run.virtualSeconds ?? emu.now,
    wallMs: run.wallMs, generated: run.generated, seed: run.seed, inputs: run.inputs,
  };
}

const NAT_KINDS = Object.entries(NAT) as [string, number][];
const FLOW_KEY_BASE = 2 ** 32; // key = service entry * 2^32 + backend id (entries < 2^21: exact in a double)
const TIMELINE_MAX = 2048;

/** A service entry as noted: its names and its backends in slot order. */
interface NotedEntry { info: ServiceInfo; backendIds: number[]; from: number | null }

export class RunCollector {
  private readonly verdicts = new Float64Array(VERDICT_NAMES.length + 1);
  private readonly flowVerdicts = new Float64Array(VERDICT_NAMES.length + 1);
  private readonly dropReasons = new Float64Array(256);
  private readonly ctStates = new Float64Array(256);
  private readonly natKinds = new Float64Array(8);
  private bytes = 0;
  private processed = 0;

  /** New flows by (entry, backend): the key's slot in an IdTable, its count in `flowCounts`. */
  private readonly flowSlots = new IdTable(1024);
  private flowCounts: Float64Array<ArrayBuffer> = new Float64Array(1024);
  private slotKeys: Float64Array<ArrayBuffer> = new Float64Array(1024);
  private slotCount = 0;
  /** The slots of each service entry (made once per new entry-backend pair, not per packet). */
  private readonly entrySlots = new Map<number, number[]>();

  /** Policy drops by rule id (index), and those without a rule id. */
  private policyDrops: Float64Array<ArrayBuffer> = new Float64Array(64);
  private policyDropsOther = 0;

  private readonly entries = new Map<number, NotedEntry>();
  private readonly backendNames = new Map<number, BackendInfo>();
  private readonly closed: ServiceDistribution[] = [];
  private lastT = 0;

  private readonly timeline: TimelinePoint[] = [];
  private timelineStride = 1;
  private samples = 0;
  private readonly started = Date.now();

  private dnsLookups = 0;
  private dnsQueries = 0;
  private dnsBlocked = 0;
  private readonly dnsHistogram = new Map<number, number>();
  private readonly dnsRcodes = new Map<string, number>();
  private readonly dnsFailures = new Map<string, { name: string; type: string; rcode: string; blocked: boolean; lookups: number; clients: Set<string> }>();

  /**
   * Read `count` processed descriptors starting at `byteOffset` of `bytes` (PKT layout, PKT.STRIDE bytes
   * each): e.g. `addProcessed(batch.raw.bytes(n), 0, n)` right after `emulator.process(batch, n)`.
   */
  addProcessed(bytes: Uint8Array, byteOffset: number, count: number): void {
    if (!(Number.isInteger(count) && count >= 0 && Number.isInteger(byteOffset) && byteOffset >= 0 && byteOffset + count * PKT.STRIDE <= bytes.byteLength)) {
      throw new RangeError(`addProcessed: ${count} descriptors at byte ${byteOffset} do not fit in ${bytes.byteLength} bytes`);
    }
    const d = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, count * PKT.STRIDE);
    const verdicts = this.verdicts, flowVerdicts = this.flowVerdicts, reasons = this.dropReasons, states = this.ctStates, nat = this.natKinds;
    let bytesSum = 0;
    for (let i = 0, o = 0; i < count; i++, o += PKT.STRIDE) {
      const verdict = d.getUint8(o + PKT.VERDICT);
      const ct = d.getUint8(o + PKT.CT_STATE);
      const natFlags = d.getUint8(o + PKT.NAT_FLAGS);
      verdicts[verdict < 4 ? verdict : 4]++;
      states[ct]++;
      bytesSum += d.getUint16(o + PKT.LEN, true);
      if (natFlags !== 0) {
        for (let b = 0; b < 5; b++) if (natFlags & (1 << b)) nat[b]++;
      }
      if (verdict !== VERDICT.FORWARDED) {
        const reason = d.getUint8(o + PKT.DROP_REASON);
        reasons[reason]++;
        if (reason === DROP.POLICY_DENIED || reason === DROP.POLICY_DENY) this.countPolicyDrop(d.getUint32(o + PKT.POLICY_RULE, true));
      }
      // A connection attempt: it made a conntrack entry, or it was stopped before one (its first packet).
      let attempt = ct === CT_STATE.NEW || ct === CT_STATE.REOPENED;
      if (!attempt && ct === CT_STATE.NONE && verdict !== VERDICT.FORWARDED) {
        const proto = d.getUint8(o + PKT.PROTO);
        attempt = proto !== PROTO.TCP || (d.getUint8(o + PKT.TCP_FLAGS) & (TCP.SYN | TCP.ACK)) === TCP.SYN;
      }
      if (attempt) {
        flowVerdicts[verdict < 4 ? verdict : 4]++;
        if (verdict === VERDICT.FORWARDED) {
          const service = d.getUint32(o + PKT.SERVICE, true), backend = d.getUint32(o + PKT.BACKEND, true);
          if (service !== NONE && backend !== NONE) this.countFlow(service * FLOW_KEY_BASE + backend);
        }
      }
    }
    this.bytes += bytesSum;
    this.processed += count;
  }

  /** The first `count` packets of a processed batch (an emulator's createBatch() or a PacketBatch). */
  addBatch(batch: EmulatorBatch | PacketBatch, count: number): void {
    const raw = batch instanceof PacketBatch ? batch : batch.raw;
    this.addProcessed(raw.bytes(count), 0, count);
  }

  private countFlow(key: number): void {
    let slot = this.flowSlots.get(key);
    if (slot === undefined) {
      slot = this.slotCount++;
      if (slot >= this.flowCounts.length) {
        this.flowCounts = grow(this.flowCounts, slot + 1);
        this.slotKeys = grow(this.slotKeys, slot + 1);
      }
      this.flowSlots.set(key, slot);
      this.slotKeys[slot] = key;
      const entry = Math.floor(key / FLOW_KEY_BASE);
      let list = this.entrySlots.get(entry);
      if (!list) this.entrySlots.set(entry, (list = []));
      list.push(slot);
    }
    this.flowCounts[slot]++;
  }

  private countPolicyDrop(rule: number): void {
    if (rule === 0 || rule >= 1 << 22) { this.policyDropsOther++; return; }
    if (rule >= this.policyDrops.length) this.policyDrops = grow(this.policyDrops, rule + 1);
    this.policyDrops[rule]++;
  }

  /** One lookup of a client's resolver. */
  addDns(e: DnsLookup): void {
    this.dnsLookups++;
    this.dnsQueries += e.queries;
    this.dnsHistogram.set(e.queries, (this.dnsHistogram.get(e.queries) ?? 0) + 1);
    const rcode = e.blocked ? 'BLOCKED' : e.rcode;
    this.dnsRcodes.set(rcode, (this.dnsRcodes.get(rcode) ?? 0) + 1);
    if (e.blocked) this.dnsBlocked++;
    if (e.blocked || e.rcode !== 'NOERROR') {
      const key = `${e.name}\u0000${e.type}\u0000${rcode}`;
      let f = this.dnsFailures.get(key);
      if (!f) {
        if (this.dnsFailures.size >= 10_000) return; // the names that failed first are kept; the counts above stay whole
        this.dnsFailures.set(key, (f = { name: e.name, type: e.type, rcode, blocked: e.blocked, lookups: 0, clients: new Set() }));
      }
      f.lookups++;
      if (f.clients.size < 1000) f.clients.add(e.client);
    }
  }

  /**
   * Record the counts so far at virtual time `t` (seconds) for the timeline; `conntrackEntries`: live flows
   * then, when the run knows them. Call it as often as you like: the timeline keeps about 2,000 points.
   */
  sample(t: number, conntrackEntries?: number): void {
    this.lastT = Math.max(this.lastT, t);
    if (this.samples++ % this.timelineStride !== 0) return;
    this.timeline.push({
      t, wallMs: Date.now() - this.started, packets: this.processed, forwarded: this.verdicts[VERDICT.FORWARDED],
      dropped: this.verdicts[VERDICT.DROPPED], rejected: this.verdicts[VERDICT.REJECTED], flows: sum(this.flowVerdicts),
      conntrack: conntrackEntries ?? null,
    });
    if (this.timeline.length >= TIMELINE_MAX) {
      // Keep every other point and sample half as often from now on.
      let w = 0;
      for (let r = 0; r < this.timeline.length; r += 2) this.timeline[w++] = this.timeline[r];
      this.timeline.length = w;
      this.timelineStride *= 2;
    }
  }

  /**
   * The cluster's service entries and backends as they are now (emulator.services(), emulator.backends()):
   * call it before the first packet and after every change of the cluster. An entry whose backends changed
   * closes a period: the flows it chose so far are judged against the backends it had.
   */
  noteCluster(services: readonly ServiceInfo[], backends: readonly BackendInfo[], t: number = this.lastT): void {
    for (const b of backends) this.backendNames.set(b.id, b);
    const seen = new Set<number>();
    for (const s of services) {
      seen.add(s.index);
      const proto = s.frontends[0]?.address.split('/')[1];
      const ids = s.backends.map((name) => this.backendIdOf(name, proto, backends));
      const prev = this.entries.get(s.index);
      if (prev && prev.info.service === s.service && prev.info.scope === s.scope && sameList(prev.backendIds, ids)) {
        prev.info = s;
        continue;
      }
      if (prev) this.closePeriod(prev, t);
      this.entries.set(s.index, { info: s, backendIds: ids, from: (prev || this.processed > 0) ? t : null });
    }
    for (const [index, prev] of this.entries) {
      if (!seen.has(index)) { this.closePeriod(prev, t); this.entries.delete(index); }
    }
  }

  private backendIdOf(name: string, proto: string | undefined, backends: readonly BackendInfo[]): number {
    if (name.startsWith('#')) return Number(name.slice(1));
    // Service entries list backends as ip:port, and one ip:port may serve several protocols (kube-dns: 53
    // over UDP and TCP): the entry's frontend protocol tells which backend it is.
    let any = -1;
    for (const b of backends) {
      if (b.backend !== name) continue;
      if (proto === undefined || b.protocol === proto) return b.id;
      if (any < 0) any = b.id;
    }
    return any;
  }

  /** The entry's flows so far as a finished period (when it had any); its counters start again. */
  private closePeriod(entry: NotedEntry, to: number | null): void {
    const dist = this.distribution(entry, to, true);
    if (dist.flows > 0) this.closed.push(dist);
  }

  private distribution(entry: NotedEntry, to: number | null, reset: boolean): ServiceDistribution {
    const index = entry.info.index;
    const counts = new Map<number, number>();
    for (const slot of this.entrySlots.get(index) ?? []) {
      const key = this.slotKeys[slot];
      const n = this.flowCounts[slot];
      if (n > 0) counts.set(key % FLOW_KEY_BASE, n);
      if (reset) this.flowCounts[slot] = 0;
    }
    // Expected weights: each slot of the entry is one equal chance (kube-proxy and Cilium give every ready
    // endpoint the same probability; a backend listed twice has twice the weight).
    const weights = new Map<number, number>();
    for (const id of entry.backendIds) weights.set(id, (weights.get(id) ?? 0) + 1);
    const ids = [...weights.keys()];
    for (const id of counts.keys()) if (!weights.has(id)) ids.push(id); // chosen but not in the entry: weight 0
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const wsum = entry.backendIds.length;
    const backends = ids.map((id) => {
      const b = this.backendNames.get(id);
      const weight = weights.get(id) ?? 0, flows = counts.get(id) ?? 0;
      return {
        backend: b?.backend ?? `#${id}`, pod: b?.pod ?? null, node: b?.node ?? null, weight,
        expectedShare: wsum ? weight / wsum : 0, flows, share: total ? flows / total : 0,
      };
    });
    // An entry never noted has no expected split to test against.
    const test = backends.length >= 2 && total > 0 && wsum > 0 ? chiSquareTest(backends.map((b) => b.flows), backends.map((b) => b.weight)) : null;
    return {
      service: entry.info.service, scope: entry.info.scope, node: entry.info.node, algorithm: entry.info.algorithm,
      from: entry.from, to, flows: total, backends, chiSquare: test,
    };
  }

  /** The report: the counts gathered, named, with what the dataplane holds at the end. */
  finish(final: RunFinal): RunReport {
    this.noteCluster(final.services, final.backends, final.virtualSeconds);
    const services = [...this.closed];
    for (const entry of this.entries.values()) {
      const d = this.distribution(entry, null, false);
      if (d.flows > 0) services.push(d);
    }
    // Flows to entries never noted (the run did not call noteCluster before they were used).
    const noted = new Set(this.entries.keys());
    const unnoted = new Map<number, NotedEntry>();
    for (const [index, slots] of this.entrySlots) {
      if (!noted.has(index) && slots.some((slot) => this.flowCounts[slot] > 0)) {
        unnoted.set(index, { info: { service: `#${index}`, index, scope: 'any', node: null, frontends: [], backends: [], algorithm: '', rule: '' }, backendIds: [], from: null });
      }
    }
    for (const e of unnoted.values()) services.push(this.distribution(e, null, false));
    services.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0) || cmpNull(a.from, b.from));

    const wallMs = final.wallMs;
    const c = final.counters;
    const report: RunReport = {
      format: 1,
      run: {
        design: final.design ?? null, backend: final.backend ?? null, seed: final.seed ?? null, inputs: { ...(final.inputs ?? {}) },
        generated: final.generated, processed: this.processed, bytes: this.bytes, wallMs, virtualSeconds: final.virtualSeconds,
        packetsPerSecond: wallMs > 0 ? this.processed / (wallMs / 1000) : 0,
      },
      packets: {
        byVerdict: verdictTally(this.verdicts),
        byCtState: Object.fromEntries(CT_STATE_NAMES.map((n, i) => [n, this.ctStates[i]])),
        nat: Object.fromEntries(NAT_KINDS.map(([n, bit]) => [n, this.natKinds[Math.log2(bit)]])),
      },
      flows: { total: sum(this.flowVerdicts), byVerdict: verdictTally(this.flowVerdicts) },
      drops: this.dropList(),
      services,
      conntrack: this.conntrackSummary(final, c),
      nat: this.natSummary(final),
      dns: this.dnsSummary(),
      policy: this.policySummary(final.policyRules ?? []),
      timeline: this.timeline.slice(),
    };
    return report;
  }

  private dropList(): RunReport['drops'] {
    const total = sum(this.dropReasons);
    const out: RunReport['drops'] = [];
    for (let r = 0; r < this.dropReasons.length; r++) {
      const n = this.dropReasons[r];
      if (n > 0) out.push({ reason: DROP_REASON_NAMES[r] ?? `reason ${r}`, packets: n, share: n / total });
    }
    return out.sort((a, b) => b.packets - a.packets || (a.reason < b.reason ? -1 : 1));
  }

  private conntrackSummary(final: RunFinal, c: Counters): RunReport['conntrack'] {
    const byState: Tally = {}, byProto: Tally = {};
    for (const e of final.conntrack) {
      byState[e.state] = (byState[e.state] ?? 0) + 1;
      byProto[e.proto] = (byProto[e.proto] ?? 0) + 1;
    }
    const entries = final.conntrack.length, capacity = final.capacity.flows;
    return {
      entries, capacity, occupancy: capacity ? entries / capacity : 0, created: c.ctCreated, evicted: c.ctEvicted, expired: c.ctExpired,
      affinityEvicted: c.affinityEvicted, byState: sortedTally(byState), byProto: sortedTally(byProto),
    };
  }

  private natSummary(final: RunFinal): RunReport['nat'] {
    const { min, max } = final.capacity.natPorts;
    const size = max - min + 1;
    const ports = new Map<string, { address: string; proto: string; ports: Set<number>; flows: number }>();
    let dnat = 0, snat = 0;
    for (const e of final.conntrack) {
      if (e.nat.dst !== e.dst || e.nat.dport !== e.dport) dnat++;
      if (e.nat.src === e.src && e.nat.sport === e.sport) continue;
      snat++;
      const key = `${e.nat.src}/${e.proto}`;
      let p = ports.get(key);
      if (!p) ports.set(key, (p = { address: e.nat.src, proto: e.proto, ports: new Set(), flows: 0 }));
      p.ports.add(e.nat.sport);
      p.flows++;
    }
    const addresses = [...ports.values()]
      .map((p) => ({ address: p.address, proto: p.proto, portsInUse: p.ports.size, flows: p.flows, share: p.ports.size / size }))
      .sort((a, b) => b.portsInUse - a.portsInUse || (a.address < b.address ? -1 : 1));
    return { portRange: { min, max, size }, addresses, dnatFlows: dnat, snatFlows: snat, noPortDrops: this.dropReasons[DROP.NAT_NO_MAPPING] };
  }

  private dnsSummary(): DnsSummary | null {
    if (this.dnsLookups === 0) return null;
    const failures = [...this.dnsFailures.values()]
      .sort((a, b) => b.lookups - a.lookups || (a.name < b.name ? -1 : 1))
      .slice(0, 20)
      .map((f) => ({ name: f.name, type: f.type, rcode: f.rcode, blocked: f.blocked, lookups: f.lookups, clients: f.clients.size }));
    const failed = [...this.dnsRcodes.entries()].filter(([r]) => r !== 'NOERROR').reduce((s, [, n]) => s + n, 0);
    return {
      lookups: this.dnsLookups, queries: this.dnsQueries, queriesPerLookup: this.dnsQueries / this.dnsLookups,
      queriesHistogram: [...this.dnsHistogram.entries()].sort((a, b) => a[0] - b[0]).map(([queries, lookups]) => ({ queries, lookups })),
      byRcode: sortedTally(Object.fromEntries(this.dnsRcodes)), blocked: this.dnsBlocked, failed, failures,
    };
  }

  private policySummary(rules: readonly PolicyRuleInfo[]): RunReport['policy'] {
    const byId = new Map(rules.map((r) => [r.id, r]));
    const byRule: RunReport['policy']['byRule'] = [];
    for (let id = 0; id < this.policyDrops.length; id++) {
      const n = this.policyDrops[id];
      if (n === 0) continue;
      const r = byId.get(id);
      byRule.push({ rule: id, text: r?.text ?? `policy rule #${id}`, direction: r?.direction ?? null, action: r?.action ?? null, packets: n });
    }
    if (this.policyDropsOther > 0) byRule.push({ rule: null, text: 'dropped by policy (no rule recorded)', direction: null, action: null, packets: this.policyDropsOther });
    byRule.sort((a, b) => b.packets - a.packets || (a.text < b.text ? -1 : 1));
    return { drops: this.dropReasons[DROP.POLICY_DENIED] + this.dropReasons[DROP.POLICY_DENY], byRule };
  }
}

function grow(a: Float64Array, need: number): Float64Array<ArrayBuffer> {
  let n = a.length;
  while (n < need) n *= 2;
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

const sameList = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const cmpNull = (a: number | null, b: number | null) => (a ?? -1) - (b ?? -1);

/** FORWARDED, DROPPED, REJECTED (and any other code the core wrote, by number). */
function verdictTally(a: Float64Array): Tally {
  const t: Tally = { FORWARDED: a[VERDICT.FORWARDED], DROPPED: a[VERDICT.DROPPED], REJECTED: a[VERDICT.REJECTED] };
  if (a[0] + a[4] > 0) t.OTHER = a[0] + a[4];
  return t;
}

function sortedTally(t: Tally): Tally {
  return Object.fromEntries(Object.entries(t).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}
