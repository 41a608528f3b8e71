// dpemu trace reads packet lines of the common shape without JSON.parse (src/trace-scan.ts) and writes
// records from cached parts; every other line goes the plain way. The two ways must not differ in anything a
// user sees: the same records, error records and change records, byte for byte, on any input.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createEmulator, Emulator } from '../src/index.node.js';
import { traceLinesJson, TraceStats } from '../src/tracer.js';
import { scanPacketLine, newScannedLine } from '../src/trace-scan.js';
import { fixtureFiles } from './k8s/helpers.js';

const files = fixtureFiles('services/cluster');
const make = () => createEmulator({ seed: 7, cluster: { files } });

/** The plain way over an emulator's tracer (what every line went through before the fast reader). */
function plain(emu: Emulator, lines: string[], first: number, st: TraceStats): string[] {
  const tracer = (emu as unknown as { tracer: Parameters<typeof traceLinesJson>[0] }).tracer;
  return traceLinesJson(tracer, lines.map((text, i) => ({ text, line: first + i })), st);
}

// addresses of the fixture: pods, cluster IPs, node and load-balancer addresses, and outsiders
const ADDRS = ['10.244.1.100', '10.244.2.20', '10.244.1.10', '10.244.2.100', '10.244.3.100', '10.96.1.1', '10.96.1.7', '10.96.1.4',
  '10.96.1.12', '192.168.0.2', '192.168.0.3', '172.18.0.10', '203.0.113.7', '198.51.100.99', '10.96.1.250', 'svc/x/y:80', '10.0.0', ' 10.244.1.100'];
const PORTS = [80, 8081, 9090, 30080, 30081, 40000, 40002, 0, 65535, 70000, -1, 1.5];

/** A value of a packet field: mostly valid, sometimes anything. */
const fieldValue = (key: string) => {
  switch (key) {
    case 'src': case 'dst': return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...ADDRS) }, { weight: 1, arbitrary: fc.anything() });
    case 'sport': case 'dport': return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...PORTS) }, { weight: 1, arbitrary: fc.constantFrom('80', null, true) });
    case 'proto': return fc.constantFrom('TCP', 'udp', 'SCTP', 'icmp', 'GRE', 7);
    case 'flags': return fc.constantFrom('S', 'SA', 'A', 'a', 'F', 'R', 'PA', '', 'X', 'ß', 1);
    case 'node': return fc.constantFrom('n1', 'n2', 'n3', 'nx', 3);
    case 't': return fc.constantFrom(0, 0.5, 1, 2, 2.0004, 3, 1e1, -1, '2');
    default: return fc.anything();
  }
};
const KEYS = ['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'node', 't'];

/** A packet line: the fields in any order, written compactly, spaced out, with escapes, or with an extra key. */
const line = fc.record({
  keys: fc.shuffledSubarray(KEYS, { minLength: 2 }),
  values: fc.dictionary(fc.constantFrom(...KEYS), fc.constant(0)),
  style: fc.constantFrom('compact', 'spaced', 'escaped', 'extra', 'exp'),
  seed: fc.integer(),
}).chain(({ keys, style }) => fc.tuple(...keys.map((k) => fieldValue(k))).map((vals) => {
  const o: Record<string, unknown> = {};
  keys.forEach((k, i) => { o[k] = vals[i]; });
  if (style === 'extra') o.http = undefined, o.colour = 'red';
  let text = JSON.stringify(o) ?? '{}';
  if (style === 'spaced') text = ` \t${text.replace(/,/g, ' ,\n ').replace(/:/g, ' : ')} \r`;
  if (style === 'escaped') text = text.replace(/"src"/, '"\\u0073rc"').replace(/"n1"/, '"n\\u0031"');
  if (style === 'exp') text = text.replace(/:(\d+)([,}])/, ':$1e0$2');
  return text;
}));

describe('trace: the fast reader and the plain way agree', () => {
  it('on random packet lines, control lines and junk, byte for byte', async () => {
    // one pair of emulators for every case: fed the same lines, they stay in step (conntrack, clock, line numbers)
    const [a, b] = await Promise.all([make(), make()]);
    let seen = 0;
    fc.assert(fc.property(
      fc.array(fc.oneof({ weight: 12, arbitrary: line }, { weight: 1, arbitrary: fc.constantFrom('', '   ', 'not json {', '[]', '{"apply": "nowhere.yaml"}', '\uFEFF{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80}') }), { minLength: 1, maxLength: 40 }),
      (lines) => {
        const sa: TraceStats = { packets: 0, errors: 0, changes: 0 }, sb: TraceStats = { packets: 0, errors: 0, changes: 0 };
        const fast = a.traceJson(lines, {}, sa);
        const slow = plain(b, lines, seen + 1, sb);
        seen += lines.length;
        expect(fast).toEqual(slow);
        expect(sa).toEqual(sb);
      }), { numRuns: 300 });
  });

  it('the fast reader takes the common shape (so the test above exercises it)', async () => {
    const emu = await make();
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ src: '10.244.1.100', dst: '10.96.1.1', sport: 40000 + i, dport: 80, flags: 'S', t: 1 }));
    const s = newScannedLine();
    expect(lines.every((l) => scanPacketLine(l, s))).toBe(true);
    const slow = plain(await make(), lines, 1, { packets: 0, errors: 0, changes: 0 });
    expect(emu.traceJson(lines)).toEqual(slow);
  });
});

describe('scanPacketLine', () => {
  it('reads exactly what JSON.parse reads, or declines', () => {
    fc.assert(fc.property(line, (text) => {
      const s = newScannedLine();
      if (!scanPacketLine(text, s)) return;
      const o = JSON.parse(text) as Record<string, unknown>;
      for (const k of KEYS) expect((s as unknown as Record<string, unknown>)[k]).toEqual(o[k]);
      expect(Object.keys(o).every((k) => KEYS.includes(k))).toBe(true);
    }), { numRuns: 2000 });
  });

  it('declines what is not the common shape', () => {
    const s = newScannedLine();
    for (const bad of ['', '{}x', '{"src":"a\\"b"}', '{"src":"a","src":"b"}', '{"src":01}', '{"sport":1.}', '{"sport":-}', '{"sport":1e}',
      '{"http":{}}', '{"src":null}', '{"src":"a",}', '{"sport":"1"}', '{"src":1}', '[1]', '{"src":"a"', '{"src":"\t"}']) {
      expect(scanPacketLine(bad, s), bad).toBe(false);
    }
  });
});
