// Capture writer: the processed packets as they leave the dataplane (the OUT_*
// fields: after DNAT, SNAT and reverse NAT) as a classic little-endian pcap of
// link type RAW (101: the frame is the IPv4 header, no link layer: there are no
// MAC addresses to invent). Each frame is the IPv4 header (valid checksum) and
// the L4 header with the rewritten ports; the payload is not kept, so the
// captured length is the headers' and the original length is the packet's (LEN),
// as a snaplen-limited capture would record it. UDP checksum 0 means "none" in
// IPv4 (RFC 768); TCP, SCTP and ICMP checksums cover the payload we do not
// have, so they are left 0 (Wireshark flags them unverified by default).
// Hand-written for the reason given in read.ts.

import { PacketBatch, PKT, VERDICT, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE_NAMES, NONE, PROTO } from '../packet.js';

export const LINKTYPE_RAW = 101;
const MAX_FRAME = 16 + 20 + 20; // record header + IPv4 + largest L4 header
const BLOCK = 4 << 20;

export interface WriterOptions {
  /** Keep dropped and rejected packets in the capture (they are always in the sidecar). Default false. */
  keepDropped?: boolean;
  /** Capture time of virtual time 0, in seconds since the epoch. Default 0. */
  epochSeconds?: number;
  /**
   * Where full blocks of the capture go as it is written (a file: runPcapFile). Without it the capture is
   * kept in memory for bytes(). A sink lets one block be reused: no memory grows with the capture.
   */
  sink?: (block: Uint8Array) => void;
  /** Names for service and backend ids in the sidecar. */
  serviceName?: (id: number) => string | undefined;
  backendName?: (id: number) => string | undefined;
}

export class PcapWriter {
  private buf = new Uint8Array(BLOCK);
  private readonly blocks: Uint8Array[] = [];
  private dv = new DataView(this.buf.buffer);
  private len = 0;
  private index = 0;
  private side: string[] = [];
  written = 0;

  constructor(private readonly opts: WriterOptions = {}, private readonly sidecar = false) {
    const d = this.dv;
    d.setUint32(0, 0xa1b2c3d4, true); d.setUint16(4, 2, true); d.setUint16(6, 4, true);
    d.setUint32(8, 0, true); d.setUint32(12, 0, true); d.setUint32(16, 65535, true); d.setUint32(20, LINKTYPE_RAW, true);
    this.len = 24;
  }

  /** Append the first `count` packets of a processed batch, at virtual time `nowMs`. */
  add(batch: PacketBatch, count: number, nowMs: number): void {
    const inp = batch.view();
    const keep = this.opts.keepDropped ?? false;
    const sec = (this.opts.epochSeconds ?? 0) + Math.floor(nowMs / 1000), usec = (nowMs % 1000) * 1000;
    for (let i = 0; i < count; i++, this.index++) {
      const o = i * PKT.STRIDE;
      const verdict = inp.getUint8(o + PKT.VERDICT);
      if (this.sidecar) this.side.push(this.line(inp, o, verdict));
      if (verdict !== VERDICT.FORWARDED && !keep) continue;
      if (this.len + MAX_FRAME > this.buf.length) this.grow();
      this.frame(inp, o, sec, usec);
    }
  }

  /**
   * A full block is kept and a new one started: the capture is a list of blocks joined once at the end (a
   * buffer doubled and copied as it grows cost as much as writing the frames, in copies and page faults).
   */
  private grow(): void {
    if (this.opts.sink) { this.opts.sink(this.buf.subarray(0, this.len)); this.len = 0; return; }
    this.blocks.push(this.buf.subarray(0, this.len));
    this.buf = new Uint8Array(BLOCK); this.dv = new DataView(this.buf.buffer); this.len = 0;
  }

  /** With a sink: hand it what is left (call once, after the last add). */
  flush(): void {
    if (this.opts.sink && this.len > 0) { this.opts.sink(this.buf.subarray(0, this.len)); this.len = 0; }
  }

  private frame(inp: DataView, o: number, sec: number, usec: number): void {
    const d = this.dv, b = this.buf, r = this.len, ip = r + 16;
    const proto = inp.getUint8(o + PKT.PROTO);
    const l4len = proto === PROTO.TCP ? 20 : proto === PROTO.SCTP ? 12 : 8;
    const caplen = 20 + l4len;
    const total = Math.max(inp.getUint16(o + PKT.LEN, true), caplen);
    const saddr = inp.getUint32(o + PKT.OUT_SADDR, true), daddr = inp.getUint32(o + PKT.OUT_DADDR, true);
    d.setUint32(r, sec, true); d.setUint32(r + 4, usec, true);
    d.setUint32(r + 8, caplen, true); d.setUint32(r + 12, total, true);
    // The IPv4 header in 32-bit words (every field is written: no zero-fill first). Its checksum (RFC 791,
    // RFC 1071) is summed from the values rather than read back: the words are 0x4500, total, id 0, DF,
    // TTL 64 and the protocol, the checksum's own 0, and the two addresses.
    let sum = 0x4500 + total + 0x4000 + (64 << 8 | proto) + (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff);
    sum = (sum & 0xffff) + (sum >>> 16); sum = (sum & 0xffff) + (sum >>> 16);
    d.setUint32(ip, 0x45000000 | total, false);
    d.setUint32(ip + 4, 0x00004000, false); // id 0, DF
    d.setUint32(ip + 8, ((64 << 24) | (proto << 16) | (~sum & 0xffff)) >>> 0, false);
    d.setUint32(ip + 12, saddr, false);
    d.setUint32(ip + 16, daddr, false);
    const l4 = ip + 20, sport = inp.getUint16(o + PKT.OUT_SPORT, true), dport = inp.getUint16(o + PKT.OUT_DPORT, true);
    if (proto === PROTO.ICMP) {
      d.setUint32(l4, 0x08000000, false); d.setUint32(l4 + 4, (sport << 16) >>> 0, false); // echo request with its identifier
    } else {
      d.setUint32(l4, ((sport << 16) | dport) >>> 0, false);
      if (proto === PROTO.TCP) {
        d.setUint32(l4 + 4, 0, false); d.setUint32(l4 + 8, 0, false); // sequence and acknowledgment numbers
        d.setUint32(l4 + 12, ((0x50 << 24) | (inp.getUint8(o + PKT.TCP_FLAGS) << 16) | 65535) >>> 0, false);
        d.setUint32(l4 + 16, 0, false); // checksum, urgent pointer
      } else if (proto === PROTO.UDP) {
        d.setUint32(l4 + 4, ((total - 20) << 16) >>> 0, false); // length, checksum 0 (none)
      } else {
        d.setUint32(l4 + 4, 0, false); d.setUint32(l4 + 8, 0, false); // SCTP verification tag, checksum
      }
    }
    this.len = ip + caplen;
    this.written++;
  }

  private line(inp: DataView, o: number, verdict: number): string {
    const svc = inp.getUint32(o + PKT.SERVICE, true), be = inp.getUint32(o + PKT.BACKEND, true);
    let s = '{"index":' + this.index + ',"verdict":"' + (VERDICT_NAMES[verdict] ?? verdict) + '"';
    const dr = inp.getUint8(o + PKT.DROP_REASON);
    if (dr) s += ',"drop_reason":"' + (DROP_REASON_NAMES[dr] ?? dr) + '"';
    s += ',"ct_state":"' + (CT_STATE_NAMES[inp.getUint8(o + PKT.CT_STATE)] ?? '') + '"';
    if (svc !== NONE) { const n = this.opts.serviceName?.(svc); s += n ? ',"service":' + JSON.stringify(n) : ',"service":' + svc; }
    if (be !== NONE) { const n = this.opts.backendName?.(be); s += n ? ',"backend":' + JSON.stringify(n) : ',"backend":' + be; }
    return s + '}';
  }

  /** The capture's bytes so far. */
  bytes(): Uint8Array {
    if (this.blocks.length === 0) return this.buf.subarray(0, this.len);
    const parts = [...this.blocks, this.buf.subarray(0, this.len)];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  /** The sidecar JSON lines (one per packet added, dropped or not), each ending in a newline. */
  sidecarText(): string { return this.side.length ? this.side.join('\n') + '\n' : ''; }
}
