// bench --micro: every stage is measured over what it claims (each call's result is checked inside
// runMicro: all found / hit / allowed), the output has the shape the CLI prints; and the synthetic policies
// the sweep uses really isolate the backends. Tiny sizes, no timing assertions.
import { describe, it, expect } from 'vitest';
import { runMicro, formatMicro } from '../src/bench/micro.js';
import { programSyntheticPolicies, syntheticPolicyEntries, syntheticPolicyLimits } from '../src/bench/policies.js';
import { synthesize, limitsFor, program } from '../src/controlplane/synthetic.js';
import { createDataplane } from '../src/node.js';
import { flowPacket } from '../src/traffic.js';
import { DIR, IPC_FLAG } from '../src/dataplane.js';
import { PROTO, TCP, VERDICT, DROP_REASON_NAMES } from '../src/packet.js';

describe('bench --micro (tiny)', () => {
  it('times each in-core stage and the Maglev builds, in ns per operation', async () => {
    const r = await runMicro({ quick: true, timeMs: 5, ops: 64, services: 20, flows: 500, coldEntries: 4096 });
    expect(r.rows.map((x) => x.name)).toEqual([
      'hash lookup, hot set', 'hash lookup, cold set', 'conntrack hit', 'service lookup', 'policy lookup', 'NAT rewrite',
      'maglev build M=16381 N=10', 'maglev build M=16381 N=100', 'maglev build M=16381 N=1000',
      'maglev build M=65521 N=10', 'maglev build M=65521 N=100', 'maglev build M=65521 N=1000',
    ]);
    for (const row of r.rows) {
      expect(row.samples).toBeGreaterThan(0);
      expect(row.ns_per_op).toBeGreaterThan(0);
      expect(row.ns_per_op_p99).toBeGreaterThanOrEqual(row.ns_per_op * 0.999);
      expect(row.ops_per_call).toBe(row.name.startsWith('maglev') ? 1 : 64);
    }
    expect(r.cluster).toMatchObject({ services: 20, flows: 500, policy_services: 2, policy_entries: 2 * 10 * 16 });
    const text = formatMicro(r);
    for (const row of r.rows) expect(text).toContain(row.name);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('refuses sizes it cannot honour', async () => {
    await expect(runMicro({ quick: true, ops: 0 })).rejects.toThrow(/ops 0 is not an integer/);
  });
});

describe('synthetic policies (the sweep\'s policies dimension)', () => {
  it('isolate every backend and allow exactly the client identities, so new flows make a real policy check', async () => {
    const c = synthesize({ services: 6, backends: 2, clients: 32, algo: 'random', seed: 3 });
    expect(syntheticPolicyEntries(c, 3)).toBe(12 * 16);
    const dp = await createDataplane('wasm', { ...limitsFor(c, 1024), ...syntheticPolicyLimits(c, 3) });
    program(dp, c);
    expect(programSyntheticPolicies(dp, c, 3)).toBe(12 * 16);
    const batch = dp.allocBatch(16);
    const pkt = (f: number) => { const p = flowPacket(c, f); return { ...p, tcpFlags: TCP.SYN }; };
    // Every new flow is allowed by the rule of its service's policy (s % 3 + 1).
    for (let f = 0; f < 16; f++) batch.set(f, pkt(f));
    dp.process(batch, 16, 1000);
    for (let f = 0; f < 16; f++) {
      const r = batch.get(f);
      expect(r.verdict).toBe(VERDICT.FORWARDED);
      expect(r.policyRule).toBe((r.service % 3) + 1);
    }
    // Take one identity's entry away from a backend: its new flows from that identity are now denied.
    const first = batch.get(0);
    const client = c.clients.find((x) => x.addr === first.saddr)!;
    const b = c.backends[first.backend];
    const pod = c.backendPods.find((p) => p.addr === b.addr)!;
    expect(dp.deletePolicy({ endpoint: pod.endpoint, identity: client.identity, port: b.port, proto: PROTO.TCP, dir: DIR.INGRESS })).toBe(true);
    // Pin the choice to that backend: a one-backend service pointing at it.
    dp.setService(first.service, { algo: 'random', backends: [first.backend] });
    batch.set(0, { ...pkt(0), sport: 60000 });
    dp.process(batch, 1, 2000);
    expect(DROP_REASON_NAMES[batch.get(0).dropReason]).toBe('POLICY_DENIED');
    expect(IPC_FLAG.ENFORCE_INGRESS).toBe(4);
  });
});
