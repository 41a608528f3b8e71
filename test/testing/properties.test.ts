// dpemu/testing: every property passes on dpemu (both backends, every design) and fails, with a shrunk
// counterexample a user can run, on an emulator broken in exactly the rule it states.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createEmulator, EmulatorOptions, FlowRecord, PacketInput } from '../../src/index.node.js';
import { properties, EmulatorUnderTest, evaluatePolicy } from '../../src/testing/index.js';

const LONG = process.env.DPEMU_LONG === '1';
const runs = (n: number) => (LONG ? n * 10 : n);

/** Small maps: creating an emulator per case stays cheap. */
const SMALL = { flows: 2048, limits: { maxMaglevCells: 1 << 16, maxServices: 64, maxBackends: 256, maxSlots: 1024, maxIpcache: 1024, maxPolicy: 4096, maxAffinity: 1024 } };
const factory = (o: EmulatorOptions = {}) => () => createEmulator({ ...SMALL, ...o, limits: { ...SMALL.limits, ...o.limits } });

/** Rotate designs and backends across the runs of one property. */
const VARIANTS: EmulatorOptions[] = [
  { design: 'ebpf' }, { design: 'iptables', backend: 'reference' }, { design: 'ipvs' }, { design: 'nftables', backend: 'reference' },
  { design: 'ebpf', backend: 'reference' }, { design: 'iptables' }, { design: 'ipvs', backend: 'reference' }, { design: 'nftables' },
];

/** A wrapper that rewrites records (and optionally the manifests) of a good emulator: a broken dataplane. */
function broken(base: () => Promise<EmulatorUnderTest>, rewrite: (r: FlowRecord, p: PacketInput, e: EmulatorUnderTest) => FlowRecord,
  manifests?: (objects: Record<string, unknown>[]) => Record<string, unknown>[]) {
  return async (): Promise<EmulatorUnderTest> => {
    const e = await base();
    return {
      apply: (input, o) => e.apply(manifests && Array.isArray(input) ? manifests(input as Record<string, unknown>[]) : input, o),
      delete: (refs) => e.delete(refs),
      advance: (s) => e.advance(s),
      counters: () => e.counters(),
      send: (packets) => {
        const list = Array.isArray(packets) ? packets : [packets];
        return e.send(list).map((r, i) => rewrite({ ...r, nat: [...r.nat] }, list[i], e));
      },
    };
  };
}
const bump = (ip: string) => ip.replace(/\d+$/, (d) => String((Number(d) + 1) % 256));

async function passes(name: string, make: (f: () => Promise<EmulatorUnderTest>) => fc.IAsyncProperty<unknown>, numRuns: number, extra: EmulatorOptions = {}) {
  for (const v of VARIANTS) await fc.assert(make(factory({ ...v, ...extra })), { numRuns: Math.max(1, Math.round(numRuns / VARIANTS.length)), seed: 42 });
  void name;
}

async function fails(make: (f: () => Promise<EmulatorUnderTest>) => fc.IAsyncProperty<unknown>, bad: () => Promise<EmulatorUnderTest>, why: RegExp, numRuns = 100) {
  const err = await fc.assert(make(bad), { numRuns, seed: 7 }).then(() => undefined, (e: Error) => e);
  expect(err, 'the property passed on a broken emulator').toBeDefined();
  // fast-check 4 keeps the property's own error as the cause; a runner prints both.
  const msg = `${err!.message}\n${String((err as Error & { cause?: Error }).cause?.message ?? '')}`;
  expect(msg).toMatch(/Counterexample: /);
  expect(msg).toMatch(/Shrunk \d+ time/);
  expect(msg).toMatch(why);
  // The failure carries the case as files for `dpemu trace`.
  expect(msg).toContain('--- cluster.yaml ---');
  expect(msg).toContain('--- packets.jsonl ---');
  expect(msg).toMatch(/kind: Service/);
  return msg;
}

describe('dpemu/testing properties', () => {
  it('1. dnatToEligibleEndpoint: passes; fails on a wrong target port', async () => {
    await passes('dnat', (f) => properties.dnatToEligibleEndpoint(f), runs(320));
    await fails((f) => properties.dnatToEligibleEndpoint(f), broken(factory(), (r) => (r.nat.includes('DNAT') ? { ...r, dport: r.dport + 1 } : r)), /not one of its eligible endpoints/);
  });

  it('2. reverseNat: passes; fails when replies come from the backend address', async () => {
    await passes('reverse', (f) => properties.reverseNat(f), runs(320));
    await fails((f) => properties.reverseNat(f), broken(factory(), (r) => (r.ct_state === 'REPLY' ? { ...r, src: r.in.src, sport: r.in.sport } : r)), /the reply reached/);
  });

  it('3. flowStickiness: passes; fails when the backend changes mid-flow', async () => {
    await passes('sticky', (f) => properties.flowStickiness(f), runs(320));
    await fails((f) => properties.flowStickiness(f), broken(factory(), (r) => (r.ct_state === 'ESTABLISHED' ? { ...r, dst: bump(r.dst) } : r)), /a packet of the flow .* went to/);
  });

  it('4. clientIpAffinity: passes; fails when affinity is ignored', async () => {
    await passes('affinity', (f) => properties.clientIpAffinity(f), runs(240));
    const stripAffinity = (objs: Record<string, unknown>[]) => objs.map((o) => (o.kind === 'Service'
      ? { ...o, spec: { ...(o.spec as object), sessionAffinity: 'None', sessionAffinityConfig: undefined } } : o));
    await fails((f) => properties.clientIpAffinity(f), broken(factory(), (r) => r, stripAffinity), /ClientIP affinity/);
  });

  it('5. weightedDistribution: passes; fails when the weights are ignored (always the first endpoint)', async () => {
    await passes('weights', (f) => properties.weightedDistribution(f, { connections: 400 }), runs(80));
    const first = new Map<string, [string, number]>();
    const sticky = broken(factory(), (r) => {
      if (r.ct_state !== 'NEW' || !r.service) return r;
      const f = first.get(r.service) ?? [r.dst, r.dport];
      first.set(r.service, f);
      return { ...r, dst: f[0], dport: f[1] };
    });
    await fails((f) => properties.weightedDistribution(f, { connections: 400 }), async () => { first.clear(); return sticky(); }, /chi-square/, 20);
  });

  it('6. maglevMinimalDisruption: passes with Maglev; fails when the table is not Maglev (every choice redrawn)', async () => {
    // Cilium's default table size (16381): removing one backend moves well under 5% of the others' flows.
    for (const backend of ['wasm', 'reference'] as const) {
      await fc.assert(properties.maglevMinimalDisruption(factory({ algo: 'maglev', backend, maglevTableSize: 16381, limits: { maxMaglevCells: 1 << 18 } }), { maxMoved: 0.05 }), { numRuns: runs(40), seed: 3 });
    }
    await fails((f) => properties.maglevMinimalDisruption(f), factory({ algo: 'random' }), /moved \d+ of \d+ connections/, 20);
  });

  it('7. snatUnique: passes, also out of source ports (dropped and counted); fails with a constant SNAT port', async () => {
    await passes('snat', (f) => properties.snatUnique(f), runs(200));
    await passes('snat-exhausted', (f) => properties.snatUnique(f), runs(40), { natPorts: { min: 40000, max: 40015, tries: 4 } });
    await fails((f) => properties.snatUnique(f), broken(factory(), (r) => (r.nat.includes('SNAT') ? { ...r, sport: 40000 } : r)), /two live flows leave as/);
  });

  it('8. policyMatchesSpec: passes; fails with a flipped verdict', async () => {
    await passes('policy', (f) => properties.policyMatchesSpec(f), runs(240));
    await fails((f) => properties.policyMatchesSpec(f), broken(factory(), (r) => (r.policy !== null && r.ct_state === 'NEW'
      ? { ...r, verdict: r.verdict === 'FORWARDED' ? 'DROPPED' : 'FORWARDED' } : r)), /the specification/);
  });

  it('9. nonServiceUntouched: passes; fails when a non-service packet is rewritten', async () => {
    await passes('untouched', (f) => properties.nonServiceUntouched(f), runs(240));
    await fails((f) => properties.nonServiceUntouched(f), broken(factory(), (r) => (r.service === null && r.verdict === 'FORWARDED' ? { ...r, dport: r.dport + 1 } : r)), /\(no Service\) left as/);
  });

  it('10. conntrackFullSafe: passes with a full table; fails when an eviction overwrites a live flow', async () => {
    const tiny = { flows: 256, limits: { maxFlows: 256 } };
    await passes('ctfull', (f) => properties.conntrackFullSafe(f), runs(80), tiny);
    const corrupt = broken(factory(tiny), (r, _p, e) => (r.ct_state === 'ESTABLISHED' && e.counters().ctEvicted > 0 ? { ...r, dst: bump(r.dst) } : r));
    await fails((f) => properties.conntrackFullSafe(f), corrupt, /continued at/, 10);
  });

  it('evaluatePolicy is the specification: isolation, an allowing rule, and no policy', () => {
    const pod = (name: string, ip: string, app: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', labels: { app } },
      spec: { nodeName: 'n', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] } });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }] } },
      pod('a', '10.244.0.10', 'a'), pod('b', '10.244.0.11', 'b'), pod('c', '10.244.0.12', 'c'),
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'only-a', namespace: 'ns' },
        spec: { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }] }] } },
    ];
    expect(evaluatePolicy(objects, { src: '10.244.0.10', dst: '10.244.0.11', protocol: 'TCP', port: 80 }).allowed).toBe(true);
    const denied = evaluatePolicy(objects, { src: '10.244.0.12', dst: '10.244.0.11', protocol: 'TCP', port: 80 });
    expect(denied.allowed).toBe(false);
    expect(denied.why).toMatch(/only-a/);
    expect(evaluatePolicy(objects, { src: '10.244.0.11', dst: '10.244.0.12', protocol: 'UDP', port: 53 }).allowed).toBe(true);
  });
});
