// The pcap path from file to file (src/pcap/run.ts): a synthetic capture over a
// synthetic cluster (each flow's SYN, then ACKs drawn over the flows, spread
// evenly over one virtual second per million packets), read -> process -> write.

import { mkdtempSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize, program, limitsFor } from '../controlplane/synthetic.js';
import { flowPacket } from '../traffic.js';
import { createDataplane } from '../node.js';
import { runPcapFile } from '../pcap/run.js';
import { fmix32 } from '../common/hash.js';
import { median } from './stats.js';

/** A classic pcap (Ethernet, µs) of `packets` frames over `flows` flows. */
export function syntheticCapture(c: ReturnType<typeof synthesize>, flows: number, packets: number): Uint8Array {
  const frameLen = 14 + 20 + 20; // Ethernet + IPv4 + the largest L4 header written (TCP)
  const buf = new Uint8Array(24 + packets * (16 + frameLen));
  const d = new DataView(buf.buffer);
  d.setUint32(0, 0xa1b2c3d4, true); d.setUint16(4, 2, true); d.setUint16(6, 4, true);
  d.setUint32(16, 65535, true); d.setUint32(20, 1, true);
  let o = 24;
  for (let k = 0; k < packets; k++) {
    const f = k < flows ? k : fmix32(k) % flows;
    const p = flowPacket(c, f);
    const usec = k; // one packet a microsecond: a million per virtual second
    d.setUint32(o, 1_700_000_000 + Math.floor(usec / 1e6), true); d.setUint32(o + 4, usec % 1e6, true);
    d.setUint32(o + 8, frameLen, true); d.setUint32(o + 12, 1000, true);
    const e = o + 16;
    buf.fill(0, e, e + frameLen);
    d.setUint16(e + 12, 0x0800, false);
    const ip = e + 14;
    d.setUint8(ip, 0x45); d.setUint16(ip + 2, 1000, false); d.setUint8(ip + 8, 64); d.setUint8(ip + 9, p.proto);
    d.setUint32(ip + 12, p.saddr, false); d.setUint32(ip + 16, p.daddr, false);
    d.setUint16(ip + 20, p.sport, false); d.setUint16(ip + 22, p.dport, false);
    if (p.proto === 6) d.setUint8(ip + 33, k < flows ? 0x02 : 0x10);
    o += 16 + frameLen;
  }
  return buf;
}

export interface PcapBenchResult { packets: number; flows: number; runs: number[]; medianMpps: number; bytesOut: number }

export async function runPcapBench(opts: { packets?: number; flows?: number; services?: number; rounds?: number; log?: (s: string) => void } = {}): Promise<PcapBenchResult> {
  const packets = opts.packets ?? 1_000_000, flows = opts.flows ?? 100_000, rounds = opts.rounds ?? 5;
  const c = synthesize({ services: opts.services ?? 1000, backends: 10 });
  const dir = mkdtempSync(join(tmpdir(), 'dpemu-pcap-bench-'));
  const inPath = join(dir, 'in.pcap'), outPath = join(dir, 'out.pcap');
  writeFileSync(inPath, syntheticCapture(c, flows, packets));
  const nodeOf = new Map(c.clients.map((x) => [x.addr, x.node]));
  const runs: number[] = [];
  let bytesOut = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      const dp = await createDataplane('wasm', limitsFor(c, flows));
      program(dp, c);
      const t = process.hrtime.bigint();
      const res = runPcapFile(dp, inPath, outPath, { node: 0, nodeOf: (a) => nodeOf.get(a) });
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      runs.push(res.packets / s / 1e6);
      bytesOut = statSync(outPath).size;
      opts.log?.(`round ${r + 1}: ${res.packets} packets (${res.forwarded} forwarded) in ${(s * 1e3).toFixed(0)} ms: ${(res.packets / s / 1e6).toFixed(2)} Mpps`);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
  return { packets, flows, runs, medianMpps: median(runs), bytesOut };
}
