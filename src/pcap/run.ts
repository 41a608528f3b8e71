// File to file: a capture in -> batches of one millisecond each -> a
// Dataplane's process() -> a capture of the packets as they leave (+ sidecar).

import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import type { Dataplane } from '../dataplane.js';
import { PKT } from '../packet.js';
import { PcapReader, fdSource } from './read.js';
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
  const writer = new PcapWriter(opts, opts.sidecarPath !== undefined);
  const result = runReader(dp, new PcapReader(input), writer, opts);
  return { result, capture: writer.bytes(), sidecar: writer.sidecarText() };
}

function runReader(dp: Dataplane, reader: PcapReader, writer: PcapWriter, opts: RunPcapOptions): RunPcapResult {
  const batch = dp.allocBatch(opts.batchSize ?? 4096);
  let packets = 0, forwarded = 0, batches = 0, lastGc = 0;
  for (;;) {
    const n = reader.fill(batch);
    if (n === 0) break;
    if (opts.nodeOf) {
      const d = batch.view();
      for (let i = 0; i < n; i++) {
        const o = i * PKT.STRIDE;
        d.setUint16(o + PKT.NODE, opts.nodeOf(d.getUint32(o + PKT.SADDR, true)) ?? opts.node, true);
      }
    } else if (opts.node !== 0) {
      const d = batch.view();
      for (let i = 0; i < n; i++) d.setUint16(i * PKT.STRIDE + PKT.NODE, opts.node, true);
    }
    // expired flows are collected once a virtual second (a sweep per batch would cost more than the batch)
    if (reader.nowMs - lastGc >= 1000) { dp.gc(reader.nowMs); lastGc = reader.nowMs; }
    forwarded += dp.process(batch, n, reader.nowMs);
    writer.add(batch, n, reader.nowMs);
    packets += n; batches++;
  }
  return {
    frames: reader.frames, packets, forwarded, written: writer.written, batches,
    skipped: reader.skippedByReason(), lastMs: reader.nowMs,
  };
}

/**
 * `dpemu run --pcap-in F --pcap-out F`: read, process, write, streaming: the input is read in pieces into
 * one buffer and the output written a block at a time, so memory does not grow with the capture.
 */
export function runPcapFile(dp: Dataplane, inPath: string, outPath: string, opts: RunPcapOptions): RunPcapResult {
  const inFd = openSync(inPath, 'r');
  let outFd: number | undefined;
  try {
    const reader = new PcapReader(new Uint8Array(0), fdSource(readSync, inFd)); // the header is checked before the output is created
    outFd = openSync(outPath, 'w');
    const fd = outFd;
    const writer = new PcapWriter({ ...opts, sink: (block) => { for (let at = 0; at < block.length;) at += writeSync(fd, block, at); } },
      opts.sidecarPath !== undefined);
    const result = runReader(dp, reader, writer, opts);
    writer.flush();
    if (opts.sidecarPath !== undefined) writeFileSync(opts.sidecarPath, writer.sidecarText());
    return result;
  } finally {
    closeSync(inFd);
    if (outFd !== undefined) closeSync(outFd);
  }
}
