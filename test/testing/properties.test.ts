// The kit's ten properties: each passes on dpemu (both backends, the designs taking turns), fails on an
// emulator broken in exactly its rule (and shrinks to a counterexample printed as YAML and JSON lines),
// and cannot pass by checking nothing. DPEMU_LONG=1 (npm run test:long) runs thousands of cases each.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { properties, PropertyFailure, type PropertyOptions, type PropertyStats, type TestedEmulator } from '../../src/testing/index.js';
import type { FlowRecord } from '../../src/api/types.js';
import { createEmulator } from '../../src/index.node.js';
import type { Options, Algorithm, Limits } from '../../src/dataplane.js';

/** What a case asks of the emulator: dataplane options, map sizes at the top level (as Options has them). */
type AdapterOptions = Options & { backend?: 'wasm' | 'reference'; algo?: Algorithm };

const LONG = process.env.DPEMU_LONG === '1';
/** Cases per property run: two runs (wasm and reference) per property. */
const RUNS = 100;
/** Small maps: creating the core's memory is most of a case's cost. */
const SMALL: AdapterOptions = { maxFlows: 1024, maxServices: 64, maxFrontends: 512, maxBackends: 512, maxSlots: 4096, maxMaglevCells: 1 << 16, maxAffinity: 1024, maxIpcache: 1024, maxPolicy: 4096, maxNodes: 16 };
const DESIGNS = ['ebpf', 'iptables', 'ipvs', 'nftables'] as const;

type Name = keyof typeof properties;
type Make = (factory: () => Promise<TestedEmulator>, options: PropertyOptions) => fc.IAsyncPropertyWithHooks<unknown[]> | fc.IAsyncProperty<unknown[]>;

interface Case {
  name: Name;
  make: Make;
  /** Emulator options the property needs (Maglev, a small conntrack table, a small port range). */
  emulator?: AdapterOptions;
  /** Designs that can run it (default all). */
  designs?: readonly (typeof DESIGNS)[number][];
  /** Cases per run, when a case is costly. */
  runs?: number;
  /** Least checks over one run. */
  minChecks: number;
  /** The broken emulator: a rewrite of each record. */
  breaks: (r: FlowRecord, s: BrokenState) => FlowRecord;
}

/** What a broken wrapper knows: the backends seen per service, the applies so far, the counters. */
interface BrokenState { seen: Map<string, string[]>; applies: number; em: TestedEmulator }

function broken(inner: TestedEmulator, rewrite: Case['breaks']): TestedEmulator {
  const s: BrokenState = { seen: new Map(), applies: 0, em: inner };
  return {
    apply: (i) => { s.applies++; return inner.apply(i); },
    delete: (r) => inner.delete(r),
    advance: (t) => inner.advance(t),
    counters: () => inner.counters(),
    send: (ps) => inner.send(ps).map((r) => {
      const out = rewrite({ ...r, nat: [...r.nat] }, s);
      if (r.service && r.nat.includes('DNAT')) {
        const l = s.seen.get(r.service) ?? [];
        if (!l.includes(`${r.dst}:${r.dport}`)) l.push(`${r.dst}:${r.dport}`);
        s.seen.set(r.service, l);
      }
      return out;
    }),
  };
}

/** Send a record to another backend of its service seen before (picked by `k`), if there is one. */
function moveTo(r: FlowRecord, s: BrokenState, k: number): FlowRecord {
  const others = (s.seen.get(r.service ?? '') ?? []).filter((b) => b !== `${r.dst}:${r.dport}`);
  if (others.length === 0) return r;
  const [dst, dport] = others[k % others.length].split(':');
  return { ...r, dst, dport: Number(dport), backend: others[k % others.length] };
}
const isNew = (r: FlowRecord) => r.ct_state === 'NEW' && r.nat.includes('DNAT');

const CASES: Case[] = [
  { name: 'dnatToEligibleEndpoint', make: properties.dnatToEligibleEndpoint, minChecks: 150,
    breaks: (r) => (r.nat.includes('DNAT') ? { ...r, dport: r.dport + 1 } : r) },
  { name: 'reverseNat', make: properties.reverseNat, minChecks: 150,
    breaks: (r) => (r.nat.includes('REVNAT') ? { ...r, src: r.in.src, sport: r.in.sport } : r) },
  { name: 'flowStickiness', make: properties.flowStickiness, minChecks: 150,
    breaks: (r, s) => (r.ct_state === 'ESTABLISHED' && r.nat.includes('DNAT') ? moveTo(r, s, r.in.sport) : r) },
  { name: 'clientIpAffinity', make: properties.clientIpAffinity, minChecks: 100,
    breaks: (r, s) => (isNew(r) ? moveTo(r, s, r.in.sport) : r) },
  { name: 'weightedDistribution', make: (f, o) => properties.weightedDistribution(f, { ...o, flows: 300, significance: LONG ? 0.000001 : 0.001 }), runs: 40, minChecks: 12000,
    breaks: (r, s) => (isNew(r) && r.in.sport % 3 !== 0 ? { ...r, ...firstSeen(r, s) } : r) },
  { name: 'maglevMinimalDisruption', make: (f, o) => properties.maglevMinimalDisruption(f, { ...o, flows: 200 }), emulator: { algo: 'maglev' }, designs: ['ebpf'], runs: 40, minChecks: 4000,
    breaks: (r, s) => (isNew(r) && s.applies > 1 ? moveTo(r, s, r.in.sport * 7919) : r) },
  { name: 'snatUnique', make: properties.snatUnique, minChecks: 100,
    breaks: (r) => (r.nat.includes('SNAT') ? { ...r, sport: 40000 } : r) },
  { name: 'policyMatchesSpec', make: properties.policyMatchesSpec, minChecks: 100,
    breaks: (r) => (r.ct_state === 'NEW' && r.policy !== null && r.verdict === 'FORWARDED' ? { ...r, verdict: 'DROPPED', drop_reason: 'POLICY_DENIED' } : r) },
  { name: 'nonServiceUntouched', make: properties.nonServiceUntouched, minChecks: 150,
    breaks: (r) => (r.service === null && r.verdict === 'FORWARDED' ? { ...r, sport: r.sport ^ 1 } : r) },
  { name: 'conntrackFullSafe', make: (f, o) => properties.conntrackFullSafe(f, { ...o, flows: 150 }), emulator: { maxFlows: 64 }, runs: 100, minChecks: 100,
    breaks: (r, s) => (r.ct_state === 'ESTABLISHED' && s.em.counters().ctEvicted > 0 ? moveTo(r, s, r.in.sport) : r) },
];

function firstSeen(r: FlowRecord, s: BrokenState): Partial<FlowRecord> {
  const b = s.seen.get(r.service ?? '')?.[0];
  if (!b) return {};
  const [dst, dport] = b.split(':');
  return { dst, dport: Number(dport), backend: b };
}

/** The emulator under test: createEmulator, with the map sizes as its `limits`. */
const factory = (o: AdapterOptions) => () => {
  const { backend, design, algo, natPorts, seed, ctLifetimes, ...rest } = { ...SMALL, ...o };
  const limits = rest as Partial<Limits>;
  return createEmulator({ backend, design, algo, natPorts, seed, ctLifetimes, limits, flows: limits.maxFlows });
};

describe('dpemu/testing properties', () => {
  CASES.forEach((c, i) => {
    const designs = c.designs ?? DESIGNS;
    // Every design on both backends, half a run's cases each: a few hundred cases per property in all.
    const runs = Math.ceil((c.runs ?? RUNS) / 2) * (LONG ? 20 : 1);
    for (const backend of ['wasm', 'reference'] as const) for (const design of designs) {
      it(`${c.name} holds on dpemu (${backend}, ${design}, ${runs} cases)`, async () => {
        const stats: PropertyStats = { cases: 0, checks: 0 };
        await fc.assert(c.make(factory({ backend, design, ...c.emulator }), { stats }), { numRuns: runs, seed: 42 + i });
        // The rule was exercised: every case counted, and enough checks over the run.
        expect(stats.cases).toBe(runs);
        expect(stats.checks).toBeGreaterThanOrEqual(c.minChecks * (runs / (c.runs ?? RUNS)));
      }, LONG ? 600_000 : 60_000);
    }
    it(`${c.name} fails on an emulator broken in that rule, with a small counterexample to replay`, async () => {
      const design = designs[i % designs.length];
      const make = factory({ backend: 'wasm', design, ...c.emulator });
      const run = await fc.check(c.make(async () => broken(await make(), c.breaks), {}), { numRuns: 100, seed: 7 + i });
      expect(run.failed).toBe(true);
      expect(run.errorInstance).toBeInstanceOf(PropertyFailure);
      const message = (run.errorInstance as Error).message;
      expect(message).toMatch(/# cluster\.yaml\n---\napiVersion: v1\nkind: Node/);
      expect(message).toMatch(/# packets\.jsonl \(the rule broke at line \d+\)\n\{"src":/);
      // Shrunk: fast-check made it smaller at least once (or the first failure was already minimal: one node).
      expect(run.numShrinks > 0 || (run.counterexample![0] as { nodes: unknown[] }).nodes.length === 1).toBe(true);
    }, 60_000);
  });

  it('a property whose cases check nothing fails rather than passes', async () => {
    // Asking for more checks than any case makes: every case is discarded, and the run fails.
    const run = await fc.check(properties.dnatToEligibleEndpoint(factory({ backend: 'reference' }), { minChecks: 1000 }), { numRuns: 5, seed: 1 });
    expect(run.failed).toBe(true);
    // A conntrack table the flows never fill: the property says so instead of passing.
    const ct = await fc.check(properties.conntrackFullSafe(factory({ backend: 'reference' }), { flows: 50 }), { numRuns: 3, seed: 1 });
    expect(ct.failed).toBe(true);
    expect((ct.errorInstance as Error).message).toMatch(/neither evicted nor dropped anything/);
  }, 60_000);

  it('snatUnique under source-port exhaustion: new flows are dropped with a counted reason, none collides', async () => {
    const stats: PropertyStats = { cases: 0, checks: 0 };
    await fc.assert(properties.snatUnique(factory({ backend: 'wasm', natPorts: { min: 40000, max: 40001, tries: 32 } }), { stats, flows: 48 }), { numRuns: 40, seed: 3 });
    expect(stats.cases).toBe(40);
    expect(stats.drops).toBeGreaterThan(10);
  }, 60_000);
});

describe('a counterexample replays with dpemu trace', () => {
  it('its cluster.yaml loads and every line of its packets.jsonl traces, without error records', async () => {
    const { createTracer, traceLines } = await import('../../src/trace.js');
    const c = CASES.find((x) => x.name === 'flowStickiness')!;
    const make = factory({ backend: 'wasm' });
    const run = await fc.check(c.make(async () => broken(await make(), c.breaks), {}), { numRuns: 100, seed: 11 });
    expect(run.failed).toBe(true);
    const message = (run.errorInstance as Error).message;
    const yaml = message.slice(message.indexOf('# cluster.yaml'), message.indexOf('# packets.jsonl'));
    const lines = message.slice(message.indexOf('# packets.jsonl')).split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    // Changes become {"apply": "change-N.yaml"} lines: serve those files from the message too.
    const files = new Map<string, string>();
    for (const m of message.matchAll(/^# (change-\d+\.yaml)\n([\s\S]*?)(?=^# )/gm)) files.set(m[1], m[2]);
    const tracer = await createTracer([{ path: 'cluster.yaml', text: yaml }], { backend: 'wasm', readFiles: (paths) => paths.map((p) => ({ path: p, text: files.get(p.split('/').pop()!)! })) });
    const out = traceLines(tracer, lines);
    expect(out.filter((r) => 'error' in r)).toEqual([]);
    expect(out.length).toBe(lines.length);
  }, 60_000);
});
