// The pcap path reads and writes files in pieces (one reused input buffer, one reused output block): the
// result must not depend on where the pieces end. Frames crossing a read boundary, a block longer than the
// buffer, a capture cut short, pcapng blocks, and a run long enough to fill several output blocks.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PcapReader, CaptureSource } from '../../src/pcap/read.js';
import { runCapture, runPcapFile } from '../../src/pcap/run.js';
import { PacketBatch, PKT } from '../../src/packet.js';
import { createDataplane } from '../../src/node.js';
import { synthesize, program, limitsFor } from '../../src/controlplane/synthetic.js';
import { syntheticCapture } from '../../src/bench/pcap.js';

/** A source handing out `bytes` at most `step` bytes a read (as a slow pipe would). */
function source(bytes: Uint8Array, step: number): CaptureSource {
  let at = 0;
  return { read(into) { const n = Math.min(step, into.length, bytes.length - at); into.set(bytes.subarray(at, at + n)); at += n; return n; } };
}

/** Every descriptor a reader yields (input fields and batch time), and its counts. */
function drain(r: PcapReader): { rows: number[][]; frames: number; skipped: Record<string, number> } {
  const buf = new ArrayBuffer(37 * PKT.STRIDE);
  const batch = new PacketBatch(() => buf, 0, 37);
  const rows: number[][] = [];
  for (;;) {
    const n = r.fill(batch);
    if (!n) break;
    for (let i = 0; i < n; i++) { const p = batch.get(i); rows.push([p.saddr, p.daddr, p.sport, p.dport, p.proto, p.tcpFlags, p.len, r.nowMs]); }
  }
  return { rows, frames: r.frames, skipped: r.skippedByReason() };
}

/** The same capture as pcapng: a section header, one Ethernet interface (µs), an EPB per frame. */
function toPcapng(pcap: Uint8Array): Uint8Array {
  const d = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const parts: number[] = [];
  const u32 = (v: number) => parts.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  const u16 = (v: number) => parts.push(v & 255, v >> 8);
  u32(0x0a0d0d0a); u32(28); u32(0x1a2b3c4d); u16(1); u16(0); u32(0xffffffff); u32(0xffffffff); u32(28);
  u32(1); u32(20); u16(1); u16(0); u32(0); u32(20);
  for (let o = 24; o + 16 <= pcap.length;) {
    const incl = d.getUint32(o + 8, true);
    const ts = d.getUint32(o, true) * 1e6 + d.getUint32(o + 4, true);
    const body = 20 + ((incl + 3) & ~3);
    u32(6); u32(body + 12); u32(0); u32(Math.floor(ts / 2 ** 32)); u32(ts >>> 0); u32(incl); u32(d.getUint32(o + 12, true));
    for (let k = 0; k < incl; k++) parts.push(pcap[o + 16 + k]);
    while (parts.length % 4) parts.push(0);
    u32(body + 12);
    o += 16 + incl;
  }
  return new Uint8Array(parts);
}

const cluster = synthesize({ services: 20, backends: 4, clients: 50, nodes: 3 });

describe('captures read in pieces', () => {
  const pcap = syntheticCapture(cluster, 40, 300);
  const inputs: [string, Uint8Array][] = [
    ['pcap', pcap],
    ['pcapng', toPcapng(pcap)],
    ['pcap cut inside its last frame', pcap.subarray(0, pcap.length - 7)],
    ['pcapng cut inside its last block', toPcapng(pcap).subarray(0, toPcapng(pcap).length - 9)],
  ];
  for (const [name, bytes] of inputs) {
    it(`${name}: the same packets, times and skips whatever the buffer and read sizes`, () => {
      const whole = drain(new PcapReader(bytes));
      expect(whole.rows.length).toBeGreaterThan(200);
      fc.assert(fc.property(fc.integer({ min: 64, max: 2000 }), fc.integer({ min: 1, max: 5000 }), (bufSize, step) => {
        const piece = drain(new PcapReader(new Uint8Array(bufSize), source(bytes, step)));
        expect(piece).toEqual(whole);
      }), { numRuns: 40 });
    });
  }

  it('a block longer than the buffer grows it', () => {
    // a pcapng whose first block (the section header with a long option area) is longer than the 64-byte buffer
    const ng = toPcapng(pcap);
    const long = new Uint8Array(ng.length + 200);
    const dv = new DataView(long.buffer);
    long.set(ng.subarray(0, 24), 0);                 // section header without its trailing length
    dv.setUint32(4, 228, true);                      // block length 28 + 200 bytes of padding option space
    dv.setUint32(224, 228, true);                    // trailing length
    long.set(ng.subarray(28), 228);
    const whole = drain(new PcapReader(long));
    expect(whole.rows.length).toBe(drain(new PcapReader(ng)).rows.length);
    expect(drain(new PcapReader(new Uint8Array(64), source(long, 50)))).toEqual(whole);
  });
});

describe('file to file, streamed', () => {
  it('runPcapFile writes what runCapture returns, byte for byte, across several output blocks', async () => {
    // 90,000 frames of 54 bytes in, 64-byte records out: more than one 4 MiB read and one 4 MiB output block
    const input = syntheticCapture(cluster, 2000, 90_000);
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-pcap-stream-'));
    try {
      const inPath = join(dir, 'in.pcap'), outPath = join(dir, 'out.pcap'), side = join(dir, 'out.jsonl');
      writeFileSync(inPath, input);
      const nodeOf = new Map(cluster.clients.map((x) => [x.addr, x.node]));
      const opts = { node: 0, nodeOf: (a: number) => nodeOf.get(a) };
      const dp1 = await createDataplane('wasm', limitsFor(cluster, 4000)); program(dp1, cluster);
      const mem = runCapture(dp1, input, { ...opts, sidecarPath: '' });
      const dp2 = await createDataplane('wasm', limitsFor(cluster, 4000)); program(dp2, cluster);
      const file = runPcapFile(dp2, inPath, outPath, { ...opts, sidecarPath: side });
      expect(file).toEqual(mem.result);
      expect(mem.capture.length).toBeGreaterThan(4 << 20);
      expect(Buffer.compare(readFileSync(outPath), Buffer.from(mem.capture))).toBe(0);
      expect(readFileSync(side, 'utf8')).toBe(mem.sidecar);
      // every IPv4 header written carries a valid checksum (the one's-complement sum of its words is 0xffff)
      const out = readFileSync(outPath), d = new DataView(out.buffer, out.byteOffset, out.byteLength);
      let frames = 0;
      for (let o = 24; o < out.length; o += 16 + d.getUint32(o + 8, true), frames++) {
        let sum = 0;
        for (let k = 0; k < 20; k += 2) sum += d.getUint16(o + 16 + k, false);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        if (sum !== 0xffff) throw new Error(`frame ${frames}: IPv4 checksum does not verify`);
      }
      expect(frames).toBe(file.written);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('a file that is not a capture is refused before the output is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-pcap-stream-'));
    try {
      writeFileSync(join(dir, 'in.pcap'), 'not a capture at all');
      const dp = await createDataplane('wasm'); program(dp, cluster);
      expect(() => runPcapFile(dp, join(dir, 'in.pcap'), join(dir, 'out.pcap'), { node: 0 })).toThrow(/not a pcap or pcapng/);
      expect(() => readFileSync(join(dir, 'out.pcap'))).toThrow(/ENOENT/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('random bytes as a capture', () => {
  it('a clear error at the header, or every frame read or counted as skipped by reason; never a crash', () => {
    const magics = [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x0a0d0d0a];
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.option(fc.constantFrom(...magics)), fc.integer({ min: 64, max: 300 }), (body, magic, bufSize) => {
      const bytes = new Uint8Array(body.length + 4);
      bytes.set(body, 4);
      new DataView(bytes.buffer).setUint32(0, magic ?? (body.length ? body[0] * 0x1010101 : 0), false);
      let whole;
      try { whole = drain(new PcapReader(bytes)); } catch (e) {
        expect((e as Error).message).toMatch(/not a pcap|truncated|shorter/);
        return;
      }
      const kept = whole.rows.length, skipped = Object.values(whole.skipped).reduce((a, b) => a + b, 0);
      expect(kept + skipped).toBe(whole.frames);
      expect(drain(new PcapReader(new Uint8Array(bufSize), source(bytes, 17)))).toEqual(whole);
    }), { numRuns: 300 });
  });
});

describe('damaged lengths', () => {
  it('a record length beyond 16 MiB ends the capture as oversized_frame, read whole or in pieces', () => {
    const pcap = syntheticCapture(cluster, 10, 20);
    const bad = pcap.slice();
    new DataView(bad.buffer).setUint32(24 + 70 * 5 + 8, 0xfffffff0, true); // the sixth record claims ~4 GiB
    const whole = drain(new PcapReader(bad));
    expect(whole.rows).toHaveLength(5);
    expect(whole.skipped).toEqual({ oversized_frame: 1 });
    expect(drain(new PcapReader(new Uint8Array(64), source(bad, 33)))).toEqual(whole);
  });
});
