import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapReader, LINKTYPE } from '../../src/pcap/read.js';
import { PcapWriter } from '../../src/pcap/write.js';
import { runCapture } from '../../src/pcap/run.js';
import { PacketBatch, PKT, VERDICT } from '../../src/packet.js';
import { createDataplane } from '../../src/node.js';
import { synthesize, program } from '../../src/controlplane/synthetic.js';
import { flowPacket } from '../../src/traffic.js';

// --- hand-built frames -------------------------------------------------------
function ipv4(src: number[], dst: number[], proto: number, l4: number[], opts: { ihl?: number; frag?: number; total?: number } = {}): number[] {
  const ihl = opts.ihl ?? 5;
  const h = [0x40 | ihl, 0, 0, 0, 0, 0, (opts.frag ?? 0) >> 8, (opts.frag ?? 0) & 255, 64, proto, 0, 0, ...src, ...dst];
  while (h.length < Math.max(ihl, 5) * 4) h.push(0);
  const total = opts.total ?? h.length + l4.length;
  h[2] = total >> 8; h[3] = total & 255;
  return [...h, ...l4];
}
const tcp = (sp: number, dp: number, flags: number) => [sp >> 8, sp & 255, dp >> 8, dp & 255, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0];
const udp = (sp: number, dp: number) => [sp >> 8, sp & 255, dp >> 8, dp & 255, 0, 8, 0, 0];
const eth = (p: number[], type = 0x0800) => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, type >> 8, type & 255, ...p];
const sll = (p: number[]) => [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0, ...p];
const sll2 = (p: number[]) => [8, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...p];

function u32(v: number, le: boolean) { return le ? [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24] : [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]; }
function u16(v: number, le: boolean) { return le ? [v & 255, v >> 8] : [v >> 8, v & 255]; }

function pcap(link: number, frames: { sec: number; sub: number; data: number[] }[], le = true, ns = false): Uint8Array {
  const out = [...u32(ns ? 0xa1b23c4d : 0xa1b2c3d4, le), ...u16(2, le), ...u16(4, le), ...u32(0, le), ...u32(0, le), ...u32(65535, le), ...u32(link, le)];
  for (const f of frames) out.push(...u32(f.sec, le), ...u32(f.sub, le), ...u32(f.data.length, le), ...u32(f.data.length, le), ...f.data);
  return new Uint8Array(out);
}
function pad4(a: number[]) { while (a.length % 4) a.push(0); return a; }
function block(type: number, body: number[], le: boolean) { pad4(body); const len = body.length + 12; return [...u32(type, le), ...u32(len, le), ...body, ...u32(len, le)]; }
function pcapng(link: number, tsresol: number | undefined, frames: { ts: number; data: number[] }[], le = true, spb = false): Uint8Array {
  const shb = block(0x0a0d0d0a, [...u32(0x1a2b3c4d, le), ...u16(1, le), ...u16(0, le), ...u32(0xffffffff, le), ...u32(0xffffffff, le)], le);
  const opts = tsresol === undefined ? [] : [...u16(9, le), ...u16(1, le), tsresol, 0, 0, 0, ...u16(0, le), ...u16(0, le)];
  const idb = block(1, [...u16(link, le), 0, 0, ...u32(0, le), ...opts], le);
  const out = [...shb, ...idb];
  for (const f of frames) {
    if (spb) out.push(...block(3, [...u32(f.data.length, le), ...f.data], le));
    else out.push(...block(6, [...u32(0, le), ...u32(Math.floor(f.ts / 2 ** 32), le), ...u32(f.ts >>> 0, le), ...u32(f.data.length, le), ...u32(f.data.length, le), ...f.data], le));
  }
  return new Uint8Array(out);
}

const A = [10, 0, 0, 1], B = [10, 96, 0, 10];
function readAll(bytes: Uint8Array) {
  const r = new PcapReader(bytes);
  const buf = new ArrayBuffer(64 * PKT.STRIDE);
  const batch = new PacketBatch(() => buf, 0, 64);
  const pkts: { saddr: number; daddr: number; sport: number; dport: number; proto: number; flags: number; len: number; ms: number }[] = [];
  for (;;) {
    const n = r.fill(batch);
    if (!n) break;
    for (let i = 0; i < n; i++) { const p = batch.get(i); pkts.push({ saddr: p.saddr, daddr: p.daddr, sport: p.sport, dport: p.dport, proto: p.proto, flags: p.tcpFlags, len: p.len, ms: r.nowMs }); }
  }
  return { pkts, skipped: r.skippedByReason(), frames: r.frames };
}

describe('pcap reader', () => {
  const frame = ipv4(A, B, 6, tcp(40000, 80, 0x02));
  for (const le of [true, false]) {
    it(`reads every link type, ${le ? 'little' : 'big'}-endian`, () => {
      for (const [link, data] of [[LINKTYPE.ETHERNET, eth(frame)], [LINKTYPE.LINUX_SLL, sll(frame)], [LINKTYPE.LINUX_SLL2, sll2(frame)], [LINKTYPE.RAW, frame], [LINKTYPE.IPV4, frame]] as const) {
        const { pkts, skipped } = readAll(pcap(link, [{ sec: 100, sub: 0, data: [...data] }], le));
        expect(skipped, `link ${link}`).toEqual({});
        expect(pkts).toEqual([{ saddr: 0x0a000001, daddr: 0x0a60000a, sport: 40000, dport: 80, proto: 6, flags: 2, len: 40, ms: 0 }]);
      }
    });
  }
  it('nanosecond pcap: time in ms from the first packet; a batch per millisecond', () => {
    const u = ipv4(A, B, 17, udp(5353, 53));
    const { pkts } = readAll(pcap(LINKTYPE.RAW, [
      { sec: 5, sub: 999_999_999, data: u }, { sec: 6, sub: 0, data: u }, { sec: 6, sub: 500_000, data: u }, { sec: 6, sub: 1_500_000, data: u },
      { sec: 6, sub: 0, data: u }, // goes back in time: held at the latest
    ], false, true));
    expect(pkts.map((p) => p.ms)).toEqual([0, 1, 1, 2, 2]);
    expect(pkts[0]).toMatchObject({ proto: 17, sport: 5353, dport: 53 });
  });
  it('pcapng: EPB with if_tsresol (ns and default µs), SPB, both byte orders', () => {
    const f = ipv4(A, B, 132, [0x13, 0x88, 0x13, 0x89, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (const le of [true, false]) {
      expect(readAll(pcapng(LINKTYPE.ETHERNET, 9, [{ ts: 1e9, data: eth(f) }, { ts: 1e9 + 2_000_000, data: eth(f) }], le)).pkts.map((p) => [p.proto, p.sport, p.ms]))
        .toEqual([[132, 5000, 0], [132, 5000, 2]]);
      expect(readAll(pcapng(LINKTYPE.RAW, undefined, [{ ts: 1000, data: f }, { ts: 4000, data: f }], le)).pkts.map((p) => p.ms)).toEqual([0, 3]);
      expect(readAll(pcapng(LINKTYPE.RAW, undefined, [{ ts: 0, data: f }], le, true)).pkts).toHaveLength(1);
    }
  });
  it('ICMP echo: identifier in sport', () => {
    const { pkts } = readAll(pcap(LINKTYPE.RAW, [{ sec: 1, sub: 0, data: ipv4(A, B, 1, [8, 0, 0, 0, 0x12, 0x34, 0, 1]) }]));
    expect(pkts[0]).toMatchObject({ proto: 1, sport: 0x1234, dport: 0 });
  });
  it('malformed and unsupported frames are counted by reason and skipped', () => {
    const good = ipv4(A, B, 6, tcp(1, 2, 0x10));
    const r = readAll(pcap(LINKTYPE.ETHERNET, [
      { sec: 1, sub: 0, data: eth(good) },
      { sec: 1, sub: 0, data: eth(good, 0x86dd) },                             // IPv6
      { sec: 1, sub: 0, data: eth(good).slice(0, 10) },                         // shorter than Ethernet
      { sec: 1, sub: 0, data: eth(good).slice(0, 30) },                         // IPv4 header cut
      { sec: 1, sub: 0, data: eth(ipv4(A, B, 6, tcp(1, 2, 0), { ihl: 3 })) },    // IHL < 5
      { sec: 1, sub: 0, data: eth(ipv4(A, B, 6, tcp(1, 2, 0), { frag: 100 })) }, // non-first fragment
      { sec: 1, sub: 0, data: eth(ipv4(A, B, 47, [0, 0, 0, 0])) },              // GRE
      { sec: 1, sub: 0, data: eth(ipv4(A, B, 6, [0, 1, 0, 2])) },               // TCP header cut
      { sec: 1, sub: 0, data: eth([0x60, ...good.slice(1)]) },                  // version 6 in an IPv4 ethertype
    ]));
    expect(r.pkts).toHaveLength(1);
    expect(r.frames).toBe(9);
    expect(r.skipped).toEqual({ not_ipv4: 1, truncated_frame: 2, bad_ihl: 1, ip_fragment: 1, unsupported_l4_protocol: 1, truncated_l4_header: 1, bad_ip_version: 1 });
    // a record cut by the end of the file
    const cut = pcap(LINKTYPE.RAW, [{ sec: 1, sub: 0, data: good }, { sec: 1, sub: 0, data: good }]);
    const t = readAll(cut.subarray(0, cut.length - 5));
    expect(t.pkts).toHaveLength(1);
    expect(t.skipped).toEqual({ truncated_frame: 1 });
    expect(() => new PcapReader(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(/not a pcap/);
  });
});

async function shop() {
  const c = synthesize({ services: 4, backends: 3, clients: 8, nodes: 2 });
  const dp = await createDataplane('wasm');
  program(dp, c);
  return { c, dp };
}

function captureOf(c: ReturnType<typeof synthesize>, n: number): Uint8Array {
  const frames = [];
  for (let f = 0; f < n; f++) {
    const p = flowPacket(c, f);
    const b = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    const l4 = p.proto === 6 ? tcp(p.sport, p.dport, 0x02) : p.proto === 17 ? udp(p.sport, p.dport) : [p.sport >> 8, p.sport & 255, p.dport >> 8, p.dport & 255, 0, 0, 0, 0, 0, 0, 0, 0];
    frames.push({ sec: 1000, sub: f * 10, data: eth(ipv4(b(p.saddr), b(p.daddr), p.proto, l4)) });
  }
  return pcap(LINKTYPE.ETHERNET, frames);
}

describe('file to file', () => {
  it('round trip: the written capture reads back as the packets that left (OUT_* tuples)', async () => {
    const { c, dp } = await shop();
    const input = captureOf(c, 50);
    const { result, capture, sidecar } = runCapture(dp, input, { node: 0, nodeOf: (a) => c.clients.find((x) => x.addr === a)?.node, sidecarPath: '' });
    expect(result.packets).toBe(50);
    expect(result.forwarded).toBeGreaterThan(0);
    // the same packets processed by hand, on a fresh dataplane
    const { dp: dp2 } = await shop();
    const batch = dp2.allocBatch(64);
    for (let f = 0; f < 50; f++) { const p = flowPacket(c, f); batch.set(f, { ...p, tcpFlags: p.proto === 6 ? 2 : 0, len: p.proto === 6 ? 40 : p.proto === 17 ? 28 : 32 }); }
    dp2.process(batch, 50, 0);
    const want = [];
    for (let f = 0; f < 50; f++) { const p = batch.get(f); if (p.verdict === VERDICT.FORWARDED) want.push([p.outSaddr, p.outDaddr, p.outSport, p.outDport, p.proto]); }
    const back = readAll(capture);
    expect(back.skipped).toEqual({});
    expect(back.pkts.map((p) => [p.saddr, p.daddr, p.sport, p.dport, p.proto])).toEqual(want);
    expect(want.some((w, i) => w[1] !== flowPacket(c, i).daddr)).toBe(true); // DNAT happened
    const lines = sidecar.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(50);
    expect(lines[0]).toMatchObject({ index: 0, verdict: 'FORWARDED', ct_state: 'NEW' });
  });

  it('dropped packets are omitted unless kept', () => {
    const buf = new ArrayBuffer(2 * PKT.STRIDE);
    const b = new PacketBatch(() => buf, 0, 2);
    b.set(0, { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 17 }); b.set(1, { saddr: 1, daddr: 2, sport: 3, dport: 5, proto: 17 });
    b.setOutput(0, { outSaddr: 1, outDaddr: 2, outSport: 3, outDport: 4, verdict: VERDICT.FORWARDED, dropReason: 0, ctState: 1, natFlags: 0, service: 0xffffffff, backend: 0xffffffff, policyRule: 0 });
    b.setOutput(1, { outSaddr: 1, outDaddr: 2, outSport: 3, outDport: 5, verdict: VERDICT.DROPPED, dropReason: 4, ctState: 0, natFlags: 0, service: 0xffffffff, backend: 0xffffffff, policyRule: 0 });
    const w1 = new PcapWriter({}, true); w1.add(b, 2, 0);
    const w2 = new PcapWriter({ keepDropped: true }); w2.add(b, 2, 0);
    expect(readAll(w1.bytes()).pkts).toHaveLength(1);
    expect(readAll(w2.bytes()).pkts).toHaveLength(2);
    expect(w1.sidecarText()).toContain('"drop_reason":"POLICY_DENIED"');
  });

  it('tcpdump -r lists the NATed addresses', async () => {
    const have = spawnSync('tcpdump', ['--version']).status === 0;
    if (!have) {
      if (process.env.DPEMU_REQUIRE_TCPDUMP === '1') throw new Error('tcpdump is required (DPEMU_REQUIRE_TCPDUMP=1) but not installed');
      console.warn('skipped: tcpdump is not installed (apt-get install -y tcpdump)');
      return;
    }
    const { c, dp } = await shop();
    const { capture } = runCapture(dp, captureOf(c, 20), { node: 0, nodeOf: (a) => c.clients.find((x) => x.addr === a)?.node });
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-pcap-'));
    const file = join(dir, 'out.pcap');
    writeFileSync(file, capture);
    const text = execFileSync('tcpdump', ['-nn', '-v', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const back = readAll(capture).pkts;
    const lines = text.split('\n').filter((l) => /^\s+\d+\.\d+\.\d+\.\d+\.\d+ > /.test(l));
    expect(lines).toHaveLength(back.length);
    const ip = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    back.forEach((p, i) => expect(lines[i]).toContain(`${ip(p.saddr)}.${p.sport} > ${ip(p.daddr)}.${p.dport}`));
    expect(text).not.toMatch(/bad cksum/);
  });
});
