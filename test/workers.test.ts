// Worker threads (src/workers.ts): a dataplane whose batches two threads share gives byte-identical records,
// counters, live flows and backend counts to one thread, on random clusters and traffic in every design (replies,
// expiry, node-scoped services, policy and service changes, full tables included); and the core with its per-node
// state in several shards agrees with the reference backend sharded alike.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { scenarioArb, run } from './helpers/differential.js';
import { DESIGN_NAMES, type Options } from '../src/dataplane.js';
import { createDataplane, createWorkerDataplane } from '../src/node.js';
import { WasmDataplane } from '../src/wasm.js';
import type { Pair } from './helpers/lockstep.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/build.js';

/** The ebpf design's rr and lc keep one state for all nodes: not shared by workers (the dataplane refuses them). */
const shareable = scenarioArb.map((s) => ({
  ...s, algo: s.algo === 'rr' || s.algo === 'lc' || s.algo === 'mix' ? (['random', 'maglev', 'weighted', 'sh'] as const)[s.seed % 4] : s.algo,
}));

async function workersPair(options: Options, batchSize: number, workers = 2): Promise<Pair> {
  const wasm = await createWorkerDataplane(options, workers, { sharedFrom: 1 }); // every batch shared, however small
  const ref = await createDataplane('wasm', options);
  return { wasm, ref, wb: wasm.allocBatch(batchSize), rb: ref.allocBatch(batchSize) };
}

describe('worker threads', () => {
  it('two workers give what one gives, packet for packet, in every design', async () => {
    let withPackets = 0, shared = 0;
    await fc.assert(fc.asyncProperty(shareable, fc.constantFrom(...DESIGN_NAMES), async (s, design) => {
      const { p } = await run({ ...s, nodes: Math.max(2, s.nodes) }, design, { shards: 2, pair: workersPair });
      const dp = p.wasm as WasmDataplane;
      // A scenario may send no packet at all (only changes, or replies before any request): nothing to share.
      if (dp.counters().packets > 0) withPackets++;
      if (dp.workers === 2 && dp.sharedBatches > 0) shared++;
      await dp.close();
    }), { numRuns: 60 });
    expect(shared).toBe(withPackets); // every run that sent packets really had two workers
    expect(withPackets).toBeGreaterThan(50);
  }, 240_000);

  it('two workers agree over batches of several prefetch groups and runs', async () => {
    const big = shareable.chain((s) => fc.record({
      batchSizes: fc.array(fc.integer({ min: 65, max: 700 }), { minLength: 1, maxLength: 3 }),
      design: fc.constantFrom(...DESIGN_NAMES),
    }).map((x) => ({ ...s, nodes: 3, events: s.events.concat(s.events, s.events), batchSizes: x.batchSizes, maxFlows: s.maxFlows * 8, design: x.design })));
    await fc.assert(fc.asyncProperty(big, async (s) => {
      const { p } = await run(s, s.design, { shards: 2, pair: workersPair });
      await (p.wasm as WasmDataplane).close();
    }), { numRuns: 30 });
  }, 240_000);

  it('more workers than cores (four on two) give what one gives: they claim the plan and wait, then sleep', async () => {
    const big = shareable.map((s) => ({ ...s, nodes: Math.max(4, s.nodes), events: s.events.concat(s.events), maxFlows: s.maxFlows * 8 }));
    let shared = 0;
    await fc.assert(fc.asyncProperty(big, fc.constantFrom(...DESIGN_NAMES), async (s, design) => {
      const { p } = await run(s, design, { shards: 4, pair: (o, n) => workersPair(o, n, 4) });
      const dp = p.wasm as WasmDataplane;
      expect(dp.workers).toBe(4);
      if (dp.sharedBatches > 0) shared++;
      await dp.close();
    }), { numRuns: 15 });
    expect(shared).toBeGreaterThan(10);
  }, 240_000);

  it('the core with per-node state in shards agrees with the reference sharded alike', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, fc.constantFrom(...DESIGN_NAMES), fc.constantFrom(2, 4), async (s, design, shards) => {
      await run(s, design, { shards });
    }), { numRuns: 120 });
  }, 240_000);

  it("a fresh pool's first batch, run in V8's baseline code, gives what one worker gives", () => {
    // A worker sleeping at a barrier once read another worker's hand-over list of the run before it was written
    // (the first batch of a process, about one fresh pool in four): every plan and list is now stamped with its
    // batch and run, and read once the stamp says so. Baseline code only (--liftoff-only) makes it happen at once.
    const script = join(ROOT, 'test/helpers/first-batch.ts');
    for (let p = 0; p < 2; p++) {
      const r = spawnSync(process.execPath, ['--liftoff-only', '--import', 'tsx', script, '6'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual(Array(6).fill('same'));
    }
  }, 60_000);

  it('refuses bad worker and shard options, naming them', async () => {
    const { createEmulator } = await import('../src/index.node.js');
    await expect(createDataplane('wasm', { shards: 3 })).rejects.toThrow(/option shards: 3 is not a power of two up to 64/);
    await expect(createDataplane('wasm', { shards: 128 })).rejects.toThrow(/option shards/);
    for (const workers of [0, 1.5, 65]) await expect(createEmulator({ workers })).rejects.toThrow(/option workers: .* is not an integer in 1\.\.64/);
    await expect(createEmulator({ workers: 2, backend: 'reference' })).rejects.toThrow(/reference backend runs on one thread/);
    // more workers than shards: as many as there are shards work
    const emu = await createEmulator({ workers: 4, limits: { shards: 2 } });
    try { expect(emu.workers).toBe(2); } finally { await emu.close(); }
  });

  it('refuses what workers cannot share, with a reason', async () => {
    const dp = await createWorkerDataplane({ shards: 2, maxNodes: 4 }, 2);
    try {
      dp.setBackend(0, { addr: 0x0a000001, port: 80, node: 0 });
      expect(() => dp.setService(0, { algo: 'rr', backends: [0] })).toThrow(/rr selection keeps one state for every node/);
      expect(() => dp.exportState()).toThrow(/one worker/);
    } finally { await dp.close(); }
  });
});

// A run's second hops come after its first hops (assembly/pipeline.ts); a run ends before a packet that may belong
// to an earlier packet's connection. So a batch gives exactly what its packets give one batch each (packet by
// packet), also when a request, its reply, and the client's next packets share the batch. The traffic is made packet
// by packet (each reply from the backend the request reached), then sent again as whole batches to a second core.
describe('runs of a batch', () => {
  it('a batch gives what its packets give one at a time, replies in the same batch included', async () => {
    const { synthesize, limitsFor, program } = await import('../src/controlplane/synthetic.js');
    const { TCP, PROTO } = await import('../src/packet.js');
    await fc.assert(fc.asyncProperty(fc.record({
      nodes: fc.integer({ min: 2, max: 4 }), seed: fc.nat(), design: fc.constantFrom(...DESIGN_NAMES),
      masquerade: fc.constantFrom(0, 0.5, 1), shards: fc.constantFrom(1, 2),
      steps: fc.array(fc.record({ kind: fc.constantFrom('new', 'reply', 'again', 'fin'), pick: fc.nat(), sport: fc.integer({ min: 1000, max: 1003 }) }), { minLength: 5, maxLength: 120 }),
      batch: fc.integer({ min: 2, max: 200 }),
    }), async (t) => {
      const c = synthesize({ nodes: t.nodes, services: 3, backends: 3, clients: 3, design: t.design, algo: 'mix', affinityFraction: 0.5,
        masqueradeFraction: t.masquerade, emptyFraction: 0, protocols: [PROTO.TCP, PROTO.UDP], seed: t.seed });
      const options: Options = { ...limitsFor(c, 4096), maxFrontends: 256, maxSlots: 256, maxMaglevCells: 1 << 16, seed: t.seed, design: t.design,
        shards: t.shards, natPorts: { min: 40000, max: 40003, tries: 4 } };
      const one = await createDataplane('wasm', options), many = await createDataplane('wasm', options);
      program(one, c); program(many, c);
      const b1 = one.allocBatch(1), bn = many.allocBatch(t.batch);
      const sent: import('../src/packet.js').PacketIn[] = [], outs: import('../src/packet.js').PacketRecord[] = [];
      for (const st of t.steps) {
        let pk: import('../src/packet.js').PacketIn | undefined;
        const cl = c.clients[st.pick % c.clients.length], svc = c.services[st.pick % c.services.length];
        const prior = outs.length ? outs[st.pick % outs.length] : undefined;
        if (st.kind === 'new' || !prior) pk = { saddr: cl.addr, daddr: svc.vip, sport: st.sport, dport: svc.port, proto: svc.proto, tcpFlags: TCP.SYN, node: cl.node, len: 60 };
        else if (st.kind === 'reply') {
          const node = c.backendPods.find((b) => b.addr === prior.outDaddr)?.node ?? prior.node;
          pk = { saddr: prior.outDaddr, daddr: prior.outSaddr, sport: prior.outDport, dport: prior.outSport, proto: prior.proto, tcpFlags: TCP.SYN | TCP.ACK, node, len: 60 };
        } else pk = { saddr: prior.saddr, daddr: prior.daddr, sport: prior.sport, dport: prior.dport, proto: prior.proto, tcpFlags: st.kind === 'fin' ? TCP.FIN | TCP.ACK : TCP.ACK, node: prior.node, len: 60 };
        b1.set(0, pk);
        one.process(b1, 1, 1000);
        sent.push(pk); outs.push(b1.get(0));
      }
      const got: import('../src/packet.js').PacketRecord[] = [];
      for (let i = 0; i < sent.length; i += t.batch) {
        const part = sent.slice(i, i + t.batch);
        part.forEach((pk, k) => bn.set(k, pk));
        many.process(bn, part.length, 1000);
        part.forEach((_, k) => got.push(bn.get(k)));
      }
      expect(got).toEqual(outs);
      expect(many.rawCounters()).toEqual(one.rawCounters());
    }), { numRuns: 150 });
  }, 240_000);
});

// The library and the commands with workers: the same records, byte for byte, as one worker (the example cluster
// of `npm start`, three nodes; random connections to its Services and pods, with replies and next packets in the
// same input, every design).
describe('createEmulator({ workers })', () => {
  it('traces what one worker traces, in every design', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { createEmulator } = await import('../src/index.node.js');
    const { internalsOf } = await import('../src/api/emulator.js');
    const dir = join(import.meta.dirname, '../examples/payments/cluster');
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ path: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
    for (const design of DESIGN_NAMES) {
      const one = await createEmulator({ cluster: { files }, design, seed: 7 });
      const two = await createEmulator({ cluster: { files }, design, seed: 7, workers: 2 });
      try {
        expect(two.workers).toBe(2);
        const pods = one.endpoints().filter((e) => e.kind === 'pod');
        const frontends = one.services().flatMap((s) => s.frontends.map((f) => f.address)).filter((a) => /\/TCP$/.test(a));
        const lines: string[] = [];
        fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 30000, max: 30004 }), fc.constantFrom('S', 'A', 'FA', 'reply')), { minLength: 1500, maxLength: 1500 }), (xs) => {
          let t = 0;
          for (const [i, j, sport, kind] of xs) {
            const src = pods[i % pods.length].address, [ip, port] = frontends[j % frontends.length].replace('/TCP', '').split(':');
            if (kind === 'reply') lines.push(JSON.stringify({ src: ip, dst: src, sport: Number(port), dport: sport, flags: 'SA', t }));
            else lines.push(JSON.stringify({ src, dst: ip, sport, dport: Number(port), flags: kind, t }));
            if (lines.length % 600 === 0) t += 0.001; // a time's packets go through the core together: batches to share
          }
        }), { numRuns: 1, seed: 42 });
        const a = one.traceJson(lines), b = two.traceJson(lines);
        expect(b).toEqual(a);
        expect(a.some((r) => r.includes('"hops"'))).toBe(true); // packets crossed between nodes
        expect((internalsOf(two).dp as WasmDataplane).sharedBatches).toBeGreaterThan(0); // and the workers shared batches
      } finally {
        await one.close(); await two.close();
      }
    }
  }, 120_000);
});

describe('batches of several planning chunks', () => {
  it('two workers plan and process a batch of 12,000 packets as one worker does, and as one packet at a time', async () => {
    const { synthesize, limitsFor, program } = await import('../src/controlplane/synthetic.js');
    const { TCP, PROTO } = await import('../src/packet.js');
    type In = import('../src/packet.js').PacketIn; type Rec = import('../src/packet.js').PacketRecord;
    for (const design of DESIGN_NAMES) {
      const c = synthesize({ nodes: 3, services: 20, backends: 4, clients: 40, design, algo: design === 'ebpf' ? 'random' : 'mix', affinityFraction: 0.3,
        masqueradeFraction: 0.5, emptyFraction: 0, protocols: [PROTO.TCP, PROTO.UDP], seed: 11 });
      const options: Options = { ...limitsFor(c, 40000), maxFrontends: 4096, maxSlots: 4096, maxMaglevCells: 1 << 18, seed: 3, design, shards: 2 };
      const one = await createDataplane('wasm', options);
      program(one, c);
      const b1 = one.allocBatch(1);
      const sent: In[] = [], outs: Rec[] = [];
      let x = 12345;
      const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x >>> 8; };
      for (let k = 0; k < 12000; k++) {
        const prior = outs.length ? outs[rnd() % outs.length] : undefined;
        let pk: In;
        if (prior && rnd() % 3 === 0) {
          const node = c.backendPods.find((b) => b.addr === prior.outDaddr)?.node ?? prior.node;
          pk = { saddr: prior.outDaddr, daddr: prior.outSaddr, sport: prior.outDport, dport: prior.outSport, proto: prior.proto, tcpFlags: TCP.ACK, node, len: 60 };
        } else {
          const cl = c.clients[rnd() % c.clients.length], svc = c.services[rnd() % c.services.length];
          pk = { saddr: cl.addr, daddr: svc.vip, sport: 1024 + (rnd() % 3000), dport: svc.port, proto: svc.proto, tcpFlags: TCP.SYN, node: cl.node, len: 60 };
        }
        b1.set(0, pk); one.process(b1, 1, 1000);
        sent.push(pk); outs.push(b1.get(0));
      }
      const whole = async (workers: number) => {
        const dp = await createWorkerDataplane(options, workers);
        try {
          program(dp, c);
          const b = dp.allocBatch(sent.length);
          sent.forEach((pk, k) => b.set(k, pk));
          dp.process(b, sent.length, 1000);
          return { recs: sent.map((_, k) => b.get(k)), counters: dp.rawCounters(), workers: (dp as WasmDataplane).sharedBatches > 0 ? (dp as WasmDataplane).workers : 1 };
        } finally { await (dp as WasmDataplane).close(); }
      };
      const w1 = await whole(1), w2 = await whole(2);
      expect(w2.workers).toBe(2);
      expect(w2.recs).toEqual(w1.recs);
      expect(w2.counters).toEqual(w1.counters);
      expect(w1.recs).toEqual(outs); // the runs of a batch give what its packets give one at a time
    }
  }, 120_000);
});
