// Virtual time past the core's u32 of milliseconds (about 49.7 days): a long simulation keeps its lifetimes,
// expiry and affinity timeouts, on both backends alike.
import { describe, it, expect } from 'vitest';
import { createEmulator, Emulator } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';

const SHOP = readManifestFiles('examples/shop');
const DAY = 86400;
const DNS = { src: '10.244.0.6', dst: '10.96.0.10', dport: 53, proto: 'UDP' };
const API = { src: '10.244.0.6', dst: '10.96.0.12', dport: 8000 }; // ClientIP affinity (600 s)

async function run(backend: 'wasm' | 'reference'): Promise<string[]> {
  const emu = await createEmulator({ backend });
  emu.applyFiles(SHOP);
  const log: string[] = [];
  const note = (what: string, v: unknown) => log.push(`${what} ${JSON.stringify(v)}`);
  const at = (e: Emulator, t: number) => e.advance(t - e.now);
  let sport = 1000;
  // Start just below 2^32 ms and go on to well past 2^33 ms, in steps of a little under a day and in one big jump.
  at(emu, 49 * DAY);
  for (const t of [49.3 * DAY, 49.6 * DAY, 49.9 * DAY, 50.2 * DAY, 75 * DAY, 99.3 * DAY, 99.6 * DAY, 1000 * DAY, 100000 * DAY]) {
    at(emu, t);
    const [dns] = emu.send({ ...DNS, sport: ++sport });
    note(`t=${t} dns`, [dns.ct_state, dns.backend]);
    emu.advance(59);
    note('dns 59 s later', emu.conntrack().filter((f) => f.dport === 53).map((f) => [f.sport, f.expires]));
    emu.advance(2);
    note('dns 61 s later', emu.conntrack().filter((f) => f.dport === 53).length);
    const [first] = emu.send({ ...API, sport: ++sport, flags: 'S' });
    emu.advance(300); // within the 600 s affinity timeout: the same backend
    const [again] = emu.send({ ...API, sport: ++sport, flags: 'S' });
    note('affinity', [first.backend, again.backend === first.backend, again.nat]);
    emu.advance(1000); // past it: chosen afresh (and recorded again)
    const [later] = emu.send({ ...API, sport: ++sport, flags: 'S' });
    note('after timeout', later.nat);
    note('counters', emu.counters());
  }
  return log;
}

describe('virtual time beyond 2^32 ms', () => {
  it('lifetimes, expiry and affinity keep working for 100,000 days, and both backends agree', async () => {
    const wasm = await run('wasm');
    const ref = await run('reference');
    expect(wasm).toEqual(ref);
    // Every DNS flow lives 60 s: there 59 s after, gone 61 s after, whenever it was opened.
    const after59 = wasm.filter((l) => l.startsWith('dns 59 s later'));
    expect(after59).toHaveLength(9);
    for (const l of after59) expect(JSON.parse(l.slice('dns 59 s later '.length))).toHaveLength(1);
    expect(wasm.filter((l) => l.startsWith('dns 61 s later')).every((l) => l.endsWith(' 0'))).toBe(true);
    // Within the timeout the client keeps its backend (AFFINITY); after it, a fresh choice.
    for (const l of wasm.filter((x) => x.startsWith('affinity '))) expect(JSON.parse(l.slice(9))[1]).toBe(true);
    for (const l of wasm.filter((x) => x.startsWith('affinity '))) expect(JSON.parse(l.slice(9))[2]).toContain('AFFINITY');
    for (const l of wasm.filter((x) => x.startsWith('after timeout '))) expect(JSON.parse(l.slice(14))).not.toContain('AFFINITY');
  });

  it('a snapshot taken after the clock origin moved restores it', async () => {
    const { restoreEmulator } = await import('../../src/index.node.js');
    for (const backend of ['wasm', 'reference'] as const) {
      const emu = await createEmulator({ backend });
      emu.applyFiles(SHOP);
      emu.advance(60 * DAY);
      emu.send({ ...DNS, sport: 7 });
      const copy = await restoreEmulator(emu.snapshot());
      expect(copy.conntrack()).toEqual(emu.conntrack());
      emu.advance(61); copy.advance(61);
      expect(copy.conntrack()).toEqual([]);
      expect(JSON.stringify(copy.send({ ...DNS, sport: 8 }))).toBe(JSON.stringify(emu.send({ ...DNS, sport: 8 })));
    }
  });
});
