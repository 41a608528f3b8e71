// dpemu trace reads packet lines of the common shape without JSON.parse (src/trace-scan.ts) and writes
// records from cached parts; every other line goes the plain way. The two ways must not differ in anything a
// user sees: the same records, error records and change records, byte for byte, on any input.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createEmulator, Emulator } from '../src/index.node.js';
import { traceLinesJson, TraceStats } from '../src/tracer.js';
import { scanPacketLine, newScannedLine } from '../src/trace-scan.js';
import { fixtureFiles } from './k8s/helpers.js';
import { internalsOf } from '../src/api/emulator.js';
import { LineWriter } from '../src/output/line-writer.js';

const files = fixtureFiles('services/cluster');
const make = () => createEmulator({ seed: 7, cluster: { files } });

/** The plain way over an emulator's tracer (what every line went through before the fast reader). */
function plain(emu: Emulator, lines: string[], first: number, st: TraceStats): string[] {
  const tracer = (emu as unknown as { tracer: Parameters<typeof traceLinesJson>[0] }).tracer;
  return traceLinesJson(tracer, lines.map((text, i) => ({ text, line: first + i })), st);
}

/** What `dpemu trace` writes: the records written as bytes into its block writer, as lines of text. */
function viaBytes(emu: Emulator, lines: string[], st?: TraceStats): string[] {
  const chunks: Buffer[] = [];
  const w = new LineWriter({ write: (c) => { chunks.push(Buffer.from(c)); return true; } });
  internalsOf(emu).traceJsonInto(lines, w, {}, st);
  w.flush();
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

// addresses of the fixture: pods, cluster IPs, node and load-balancer addresses, and outsiders
const ADDRS = ['10.244.1.100', '10.244.2.20', '10.244.1.10', '10.244.2.100', '10.244.3.100', '10.96.1.1', '10.96.1.7', '10.96.1.4',
  '10.96.1.12', '192.168.0.2', '192.168.0.3', '172.18.0.10', '203.0.113.7', '198.51.100.99', '10.96.1.250', 'svc/x/y:80', '10.0.0', ' 10.244.1.100',
  // written otherwise than a record writes them: leading zeros, too long, out of range, spaced
  '010.244.1.100', '10.244.001.100', '10.96.1.01', '1.2.3.4.5', '256.1.1.1', '10.244.1.1000', '10.244.1.100 ', '0.0.0.0', '255.255.255.255'];
const PORTS = [80, 8081, 9090, 30080, 30081, 40000, 40002, 0, 65535, 70000, -1, 1.5];

/** A value of a packet field: mostly valid, sometimes anything. */
const fieldValue = (key: string) => {
  switch (key) {
    case 'src': case 'dst': return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...ADDRS) }, { weight: 1, arbitrary: fc.anything() });
    case 'sport': case 'dport': return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...PORTS) }, { weight: 1, arbitrary: fc.constantFrom('80', null, true) });
    case 'proto': return fc.constantFrom('TCP', 'UDP', 'udp', 'Tcp', 'SCTP', 'icmp', 'GRE', 'TCPX', 7);
    case 'flags': return fc.constantFrom('S', 'SA', 'A', 'a', 'F', 'R', 'PA', '', 'X', 'ß', 1);
    case 'node': return fc.constantFrom('n1', 'n2', 'n3', 'nx', 'n11', 'n', '', 'n1 ', 3);
    case 't': return fc.constantFrom(0, 0.5, 1, 2, 2.0004, 3, 1e1, -1, '2');
    default: return fc.anything();
  }
};
const KEYS = ['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'node', 't'];

/** A packet line: the fields in any order, written compactly, spaced out, with escapes, or with an extra key. */
const line = fc.record({
  keys: fc.shuffledSubarray(KEYS, { minLength: 2 }),
  values: fc.dictionary(fc.constantFrom(...KEYS), fc.constant(0)),
  style: fc.constantFrom('compact', 'spaced', 'escaped', 'extra', 'exp', 'unicode', 'duplicate'),
  seed: fc.integer(),
}).chain(({ keys, style }) => fc.tuple(...keys.map((k) => fieldValue(k))).map((vals) => {
  const o: Record<string, unknown> = {};
  keys.forEach((k, i) => { o[k] = vals[i]; });
  if (style === 'extra') o.http = undefined, o.colour = 'red';
  let text = JSON.stringify(o) ?? '{}';
  if (style === 'spaced') text = ` \t${text.replace(/,/g, ' ,\n ').replace(/:/g, ' : ')} \r`;
  if (style === 'escaped') text = text.replace(/"src"/, '"\\u0073rc"').replace(/"n1"/, '"n\\u0031"');
  if (style === 'exp') text = text.replace(/:(\d+)([,}])/, ':$1e0$2');
  if (style === 'unicode') text = text.replace(/"(\d+)\.(\d+)/, '"$1\\u002e$2').replace(/"TCP"/, '"\\u0054CP"').replace(/"n2"/, '"n\\u0032"');
  if (style === 'duplicate') text = text.replace(/^\{("\w+":("[^"]*"|[\d.e-]+))/, '{$1,$1');
  return text;
}));

describe('trace: the fast reader and the plain way agree', () => {
  it('on random packet lines, control lines and junk, byte for byte', async () => {
    // one pair of emulators for every case: fed the same lines, they stay in step (conntrack, clock, line numbers)
    const [a, b, c] = await Promise.all([make(), make(), make()]);
    let seen = 0;
    fc.assert(fc.property(
      fc.array(fc.oneof({ weight: 12, arbitrary: line }, { weight: 1, arbitrary: fc.constantFrom('', '   ', 'not json {', '[]', '{"apply": "nowhere.yaml"}', '{"fail": "n2"}', '{"restart": "n2"}', '\uFEFF{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80}') }), { minLength: 1, maxLength: 40 }),
      (lines) => {
        const sa: TraceStats = { packets: 0, errors: 0, changes: 0 }, sb: TraceStats = { packets: 0, errors: 0, changes: 0 };
        const sc: TraceStats = { packets: 0, errors: 0, changes: 0 };
        const fast = a.traceJson(lines, {}, sa);
        const slow = plain(b, lines, seen + 1, sb);
        const bytes = viaBytes(c, lines, sc);
        seen += lines.length;
        expect(fast).toEqual(slow);
        expect(bytes).toEqual(slow);
        expect(sa).toEqual(sb);
        expect(sc).toEqual(sb);
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

/** A valid packet line written in any of the ways JSON and the fields allow: the records must not show how. */
const validLine = fc.record({
  src: fc.constantFrom('10.244.1.100', '010.244.1.100', '10.244.001.100', ' 10.244.1.100', '203.0.113.7', '203.000.113.7', '10.244.2.20'),
  dst: fc.constantFrom('10.96.1.1', '10.96.001.1', '10.96.1.7', '10.244.2.20', '10.244.02.20', '192.168.0.2'),
  sport: fc.integer({ min: 1, max: 65535 }),
  dport: fc.constantFrom(80, 8081, 9090, 30080),
  proto: fc.constantFrom(undefined, 'TCP', 'tcp', 'UDP', 'udp'),
  flags: fc.constantFrom(undefined, 'S', 'A', 'a', 'SA', 'PA', 'F', 'R', ''),
  node: fc.constantFrom('n1', 'n2', 'n3'),
  order: fc.constantFrom(0, 1, 2),
  style: fc.constantFrom('compact', 'spaced', 'escaped', 'exp', 'ws'),
}).map((p) => {
  const udp = p.proto !== undefined && p.proto.toUpperCase() === 'UDP';
  const fields: [string, unknown][] = [['src', p.src], ['dst', p.dst], ['sport', p.sport], ['dport', p.dport], ['proto', p.proto],
    ['flags', udp ? undefined : p.flags], ['node', p.node]];
  if (p.order === 1) fields.reverse();
  if (p.order === 2) fields.push(fields.shift()!, fields.shift()!);
  const o: Record<string, unknown> = Object.fromEntries(fields.filter(([, v]) => v !== undefined));
  let text = JSON.stringify(o);
  if (p.style === 'spaced') text = ` ${text.replace(/,/g, ' ,\t').replace(/:/g, ': ')}\r`;
  if (p.style === 'escaped') text = text.replace(/"dst"/, '"\\u0064st"').replace(/"n(\d)"/, '"\\u006e$1"').replace(/"(\d+)\./, '"$1\\u002e');
  if (p.style === 'exp') text = text.replace(/"dport":(\d+)/, '"dport":$10e-1');
  if (p.style === 'ws') text = `\n${text.replace(/,"/g, ',\n\t "').replace(/\}$/, ' \n}')}  `;
  return text;
});

describe('trace: records written as bytes', () => {
  it('keep each record\'s own time when lines of the plain way come between them', async () => {
    // a record of the plain way (a key written with an escape, which the fast reader declines) at a new time,
    // then a fast one at that time
    const pkt = (sport: number, t: number, escaped = false) => {
      const text = JSON.stringify({ src: '10.244.1.100', dst: '10.96.1.1', sport, dport: 80, t });
      return escaped ? text.replace('"src"', '"\\u0073rc"') : text;
    };
    const lines = [pkt(40000, 1), pkt(40001, 2, true), pkt(40002, 2), pkt(40003, 3, true), pkt(40004, 3)];
    const s = newScannedLine();
    expect(lines.map((l) => scanPacketLine(l, s))).toEqual([true, false, true, false, true]);
    const slow = plain(await make(), lines, 1, { packets: 0, errors: 0, changes: 0 });
    expect(viaBytes(await make(), lines)).toEqual(slow);
    expect(slow.map((r) => (JSON.parse(r) as { t?: number }).t)).toEqual([1, 2, 2, 3, 3]);
  });
});

describe('trace: valid packets written oddly', () => {
  it('give the records the plain way gives, byte for byte', async () => {
    const [a, b, c] = await Promise.all([make(), make(), make()]);
    let seen = 0;
    fc.assert(fc.property(fc.array(validLine, { minLength: 1, maxLength: 30 }), (lines) => {
      const fast = a.traceJson(lines);
      const slow = plain(b, lines, seen + 1, { packets: 0, errors: 0, changes: 0 });
      seen += lines.length;
      expect(fast).toEqual(slow);
      expect(viaBytes(c, lines)).toEqual(slow);
      expect(fast.every((r) => !r.includes('"error"'))).toBe(true);
    }), { numRuns: 200 });
  });
});

describe('trace: the fast way over many flows', () => {
  it('more sources than the tables of names hold, time moving, SYNs then ACKs: the same records as the plain way', async () => {
    const [a, b, c] = await Promise.all([make(), make(), make()]);
    const src = (i: number) => `203.0.${(i >> 8) & 255}.${i & 255}`;
    const syn = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ src: src(i), dst: '10.96.1.1', sport: 1024 + (i % 50000), dport: 80, node: `n${1 + (i % 3)}`, t: 1 + Math.floor(i / 700) / 4 }));
    const ack = Array.from({ length: 5000 }, (_, k) => {
      const i = (k * 7919) % 5000;
      return JSON.stringify({ src: src(i), dst: '10.96.1.1', sport: 1024 + (i % 50000), dport: 80, flags: 'A', node: `n${1 + (i % 3)}`, t: 9 });
    });
    const lines = [...syn, ...ack];
    const st = (): TraceStats => ({ packets: 0, errors: 0, changes: 0 });
    const fast: string[] = [];
    const sa = st();
    for (let i = 0; i < lines.length; i += 1024) fast.push(...a.traceJson(lines.slice(i, i + 1024), {}, sa));
    const slow = plain(b, lines, 1, st());
    expect(sa.packets).toBe(lines.length);
    expect(fast.length).toBe(slow.length);
    for (let i = 0; i < fast.length; i++) if (fast[i] !== slow[i]) expect(fast[i]).toBe(slow[i]);
    const bytes: string[] = [];
    for (let i = 0; i < lines.length; i += 1024) bytes.push(...viaBytes(c, lines.slice(i, i + 1024)));
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== slow[i]) expect(bytes[i]).toBe(slow[i]);
    expect(bytes.length).toBe(slow.length);
    expect(new Set(fast.map((r) => (JSON.parse(r) as { backend: string }).backend)).size).toBeGreaterThan(1);
    expect(slow.some((r) => r.includes('"hops"'))).toBe(true);
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
