// File to file: a capture in -> batches of one millisecond each -> a
// Dataplane's process() -> a capture of the packets as they leave (+ sidecar).

import { readFileSync, writeFileSync } from 'node:fs';
import type { Dataplane } from '../dataplane.js';
import { PKT } from '../packet.js';
import { PcapReader } from './read.js';
import { PcapWriter, type WriterOptions } from './write.js';

export interface RunPcapOptions extends WriterOptions {
  /** Node the packets enter on when `nodeOf` gives none. */
  node: number;
  /** The node a packet enters on, by its source address (undefined: `node`). */
  nodeOf?: (saddr: number) => number | undefined;
  batchSize?: number;
  /** Write the sidecar JSONL (one line per packet) to this path. */
  sidecarPath?: string;
}

export interface RunPcapResult {
  frames: number; packets: number; forwarded: number; written: number; batches: number;
  skipped: Record<string, number>; lastMs: number;
}

/** Run a capture held in memory; returns the output capture and sidecar with the counts. */
export function runCapture(dp: Dataplane, input: Uint8Array, opts: RunPcapOptions) {
  const reader = new PcapReader(input);
  const writer = new PcapWriter(opts, opts.sidecarPath !== undefined);
  const batch = dp.allocBatch(opts.batchSize ?? 4096);
  let packets = 0, forwarded = 0, batches = 0, lastGc = 0;
  for (;;) {
    const n = reader.fill(batch);
    if (n === 0) break;
    const d = batch.view();
    for (let i = 0; i < n; i++) {
      const o = i * PKT.STRIDE;
      const node = opts.nodeOf?.(d.getUint32(o + PKT.SADDR, true)) ?? opts.node;
      d.setUint16(o + PKT.NODE, node, true);
    }
    // expired flows are collected once a virtual second (a sweep per batch would cost more than the batch)
    if (reader.nowMs - lastGc >= 1000) { dp.gc(reader.nowMs); lastGc = reader.nowMs; }
    forwarded += dp.process(batch, n, reader.nowMs);
    writer.add(batch, n, reader.nowMs);
    packets += n; batches++;
  }
  const result: RunPcapResult = {
    frames: reader.frames, packets, forwarded, written: writer.written, batches,
    skipped: reader.skippedByReason(), lastMs: reader.nowMs,
  };
  return { result, capture: writer.bytes(), sidecar: writer.sidecarText() };
}

/** `dpemu run --pcap-in F --pcap-out F`: read, process, write. */
export function runPcapFile(dp: Dataplane, inPath: string, outPath: string, opts: RunPcapOptions): RunPcapResult {
  const { result, capture, sidecar } = runCapture(dp, readFileSync(inPath), opts);
  writeFileSync(outPath, capture);
  if (opts.sidecarPath !== undefined) writeFileSync(opts.sidecarPath, sidecar);
  return result;
}
