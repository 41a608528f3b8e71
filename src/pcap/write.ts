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
    this.blocks.push(this.buf.subarray(0, this.len));
    this.buf = new Uint8Array(BLOCK); this.dv = new DataView(this.buf.buffer); this.len = 0;
  }

  private frame(inp: DataView, o: number, sec: number, usec: number): void {
    const d = this.dv, b = this.buf, r = this.len, ip = r + 16;
    const proto = inp.getUint8(o + PKT.PROTO);
    const l4len = proto === PROTO.TCP ? 20 : proto === PROTO.SCTP ? 12 : 8;
    const caplen = 20 + l4len;
    const total = Math.max(inp.getUint16(o + PKT.LEN, true), caplen);
    d.setUint32(r, sec, true); d.setUint32(r + 4, usec, true);
    d.setUint32(r + 8, caplen, true); d.setUint32(r + 12, total, true);
    b.fill(0, ip, ip + caplen);
    d.setUint8(ip, 0x45); d.setUint16(ip + 2, total, false);
    d.setUint16(ip + 6, 0x4000, false); // DF
    d.setUint8(ip + 8, 64); d.setUint8(ip + 9, proto);
    d.setUint32(ip + 12, inp.getUint32(o + PKT.OUT_SADDR, true), false);
    d.setUint32(ip + 16, inp.getUint32(o + PKT.OUT_DADDR, true), false);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += d.getUint16(ip + k, false);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    d.setUint16(ip + 10, ~sum & 0xffff, false);
    const l4 = ip + 20, sport = inp.getUint16(o + PKT.OUT_SPORT, true), dport = inp.getUint16(o + PKT.OUT_DPORT, true);
    if (proto === 1) {
      d.setUint8(l4, 8); d.setUint16(l4 + 4, sport, false); // echo request with its identifier
    } else {
      d.setUint16(l4, sport, false); d.setUint16(l4 + 2, dport, false);
      if (proto === PROTO.TCP) { d.setUint8(l4 + 12, 0x50); d.setUint8(l4 + 13, inp.getUint8(o + PKT.TCP_FLAGS)); d.setUint16(l4 + 14, 65535, false); }
      else if (proto === PROTO.UDP) d.setUint16(l4 + 4, total - 20, false);
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
