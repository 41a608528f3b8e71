// Capture reader: pcap (both byte orders, µs and ns) and pcapng (sections, IDB
// with if_tsresol, EPB, SPB) straight into packed packet descriptors
// (src/packet.ts PKT), with no object per packet.
//
// Why hand-written: no npm pcap reader is well kept (pcap-parser and
// pcap-ng-parser are unmaintained stream parsers that allocate an object per
// packet; `pcap` needs libpcap bindings). Formats: pcap per
// https://www.tcpdump.org/manpages/pcap-savefile.5.html, pcapng per
// draft-ietf-opsawg-pcapng, link types per https://www.tcpdump.org/linktypes.html.

import { PacketBatch, PKT } from '../packet.js';

export const LINKTYPE = { ETHERNET: 1, RAW: 101, IPV4: 228, LINUX_SLL: 113, LINUX_SLL2: 276 } as const;

/** Why a frame was skipped; index = slot in PcapReader.skipped. */
export const SKIP_REASONS = [
  'truncated_frame', 'unsupported_link_type', 'not_ipv4', 'bad_ip_version', 'bad_ihl', 'bad_ip_total_length',
  'ip_fragment', 'unsupported_l4_protocol', 'truncated_l4_header', 'bad_block', 'oversized_frame',
] as const;
export type SkipReason = typeof SKIP_REASONS[number];
const SKIP = Object.fromEntries(SKIP_REASONS.map((r, i) => [r, i])) as Record<SkipReason, number>;

interface Iface { link: number; tsDiv: number /* ticks per ms */ }

/**
 * Where more of a capture comes from when it is read in pieces (a file, by `fileSource`): `read` fills
 * `into` from its start and returns the bytes written, 0 at the end. A reader over a source keeps one
 * buffer and moves the unread tail to its front before each read, so a file of any size is read with one
 * allocation and without a copy of the whole file (which, in page faults alone, cost as much as parsing it).
 */
export interface CaptureSource { read(into: Uint8Array): number }

/** A CaptureSource reading an open file descriptor from its current position. */
export function fdSource(readSync: (fd: number, b: Uint8Array, off: number, len: number, pos: null) => number, fd: number): CaptureSource {
  return { read: (into) => readSync(fd, into, 0, into.length, null) };
}

const CHUNK = 4 << 20;
/**
 * The longest record or block read (16 MiB: libpcap's largest snaplen is 256 KiB, MAXIMUM_SNAPLEN). A longer
 * length field is damage: the rest of the file is skipped as oversized_frame, rather than a buffer of up to
 * 4 GiB being made for it, whether the capture is in memory or read in pieces.
 */
const MAX_RECORD = 16 << 20;

/**
 * Reads a whole capture held in memory. `fill` writes the next packets into a
 * batch, all with one virtual time (see `nowMs`).
 *
 * Time rule: a packet's virtual time is its capture time minus the first
 * packet's, in whole milliseconds. A batch holds packets of one millisecond
 * only (the next packet of another millisecond starts the next batch), so
 * process(batch, count, nowMs) sees time as the capture did. Time that goes
 * backwards (reordered captures) is held at the latest time seen, so the
 * virtual clock never runs back.
 */
export class PcapReader {
  readonly skipped = new Float64Array(SKIP_REASONS.length);
  /** Frames read (kept + skipped). */
  frames = 0;
  private bytes: Uint8Array;
  private dv: DataView;
  /** Bytes of `bytes` that hold capture data (the rest of a source's buffer is not read yet). */
  private end: number;
  private eof: boolean;
  private pos = 0;
  private le = true;
  private ng = false;
  private ifaces: Iface[] = [];
  private t0 = -1;
  private lastMs = 0;
  /** Virtual time of the batch `fill` last returned. */
  nowMs = 0;
  // a packet parsed but not yet placed (it began a new millisecond)
  private pendingMs = -1;
  private readonly pend = new Uint8Array(PKT.STRIDE);

  /** A capture held in memory, or (with `source`) read from it in pieces; `bytes` is then the buffer to use. */
  constructor(bytes: Uint8Array, private readonly source?: CaptureSource) {
    if (source) {
      if (bytes.length < 64) bytes = new Uint8Array(CHUNK);
      this.bytes = bytes; this.end = 0; this.eof = false;
      this.end = this.readMore(0);
      bytes = bytes.subarray(0, this.end);
    } else {
      this.bytes = bytes; this.end = bytes.length; this.eof = true;
    }
    this.dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    if (bytes.length < 4) throw new Error('not a capture: file shorter than 4 bytes');
    const magic = this.dv.getUint32(0, false);
    if (magic === 0x0a0d0d0a) { this.ng = true; return; }
    let ns = false;
    if (magic === 0xa1b2c3d4) this.le = false;
    else if (magic === 0xd4c3b2a1) this.le = true;
    else if (magic === 0xa1b23c4d) { this.le = false; ns = true; }
    else if (magic === 0x4d3cb2a1) { this.le = true; ns = true; }
    else throw new Error(`not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
    if (bytes.length < 24) throw new Error('pcap file header truncated (24 bytes expected)');
    const link = this.dv.getUint32(20, this.le) & 0x0fffffff;
    this.ifaces.push({ link, tsDiv: ns ? 1e6 : 1e3 });
    this.pos = 24;
  }

  /** Read from the source into the buffer from `at` until it is full or the source ends; returns the new end. */
  private readMore(at: number): number {
    while (at < this.bytes.length && !this.eof) {
      const got = this.source!.read(this.bytes.subarray(at));
      if (got === 0) this.eof = true;
      at += got;
    }
    return at;
  }

  /**
   * Make bytes [p, p + n) available: with a source, the unread tail moves to the buffer's front (the buffer
   * grows for a block longer than it) and more is read. Returns where p is now; fewer than n bytes remain
   * only at the end of the capture.
   */
  private need(p: number, n: number): number {
    if (p + n <= this.end || this.eof) return p;
    const tail = this.end - p;
    if (n > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(n, this.bytes.length * 2));
      bigger.set(this.bytes.subarray(p, this.end));
      this.bytes = bigger;
      this.dv = new DataView(bigger.buffer);
    } else {
      this.bytes.copyWithin(0, p, this.end);
    }
    this.end = this.readMore(tail);
    return 0;
  }

  /** Stop reading: what follows a damaged length cannot be found again. */
  private eofNow(): void { this.eof = true; }

  skippedByReason(): Record<string, number> {
    const r: Record<string, number> = {};
    SKIP_REASONS.forEach((n, i) => { if (this.skipped[i]) r[n] = this.skipped[i]; });
    return r;
  }

  /** Fill up to `max` descriptors of `batch` from index 0; returns the count (0 at end). */
  fill(batch: PacketBatch, max = batch.capacity): number {
    const out = batch.view();
    const ob = batch.bytes();
    let n = 0;
    if (this.pendingMs >= 0) {
      ob.set(this.pend, 0); n = 1; this.nowMs = this.pendingMs; this.pendingMs = -1;
    }
    while (n < max) {
      const o = n * PKT.STRIDE;
      const ms = this.ng ? this.nextNg(out, o) : this.nextPcap(out, o);
      if (ms === -2) break; // end of file
      if (ms < 0) continue; // skipped
      if (n === 0) { this.nowMs = ms; n = 1; continue; }
      if (ms !== this.nowMs) {
        this.pend.set(ob.subarray(o, o + PKT.STRIDE)); this.pendingMs = ms; break;
      }
      n++;
    }
    return n;
  }

  /** -2 end, -1 skipped, else the packet's ms. */
  private nextPcap(out: DataView, o: number): number {
    const le = this.le;
    let p = this.pos;
    if (p + 16 > this.end) p = this.need(p, 16);
    if (p >= this.end) return -2;
    this.frames++;
    if (p + 16 > this.end) { this.pos = this.end; this.eofNow(); this.skipped[SKIP.truncated_frame]++; return -1; }
    const incl = this.dv.getUint32(p + 8, le);
    if (incl > MAX_RECORD) { this.pos = this.end; this.eofNow(); this.skipped[SKIP.oversized_frame]++; return -1; }
    if (p + 16 + incl > this.end) p = this.need(p, 16 + incl);
    const dv = this.dv;
    const sec = dv.getUint32(p, le), sub = dv.getUint32(p + 4, le), orig = dv.getUint32(p + 12, le);
    const start = p + 16;
    if (start + incl > this.end) { this.pos = this.end; this.eofNow(); this.skipped[SKIP.truncated_frame]++; return -1; }
    this.pos = start + incl;
    const ifc = this.ifaces[0];
    return this.frame(out, o, ifc.link, start, incl, orig, sec * 1000 + Math.floor(sub / ifc.tsDiv));
  }

  private nextNg(out: DataView, o: number): number {
    for (;;) {
      let p = this.pos;
      if (p + 12 > this.end) p = this.need(p, 12);
      let dv = this.dv;
      if (p >= this.end) return -2;
      if (p + 12 > this.end) { this.pos = this.end; this.eofNow(); this.frames++; this.skipped[SKIP.bad_block]++; return -1; }
      let type = dv.getUint32(p, this.le);
      if (dv.getUint32(p, false) === 0x0a0d0d0a) { // section header: byte order from its magic
        type = 0x0a0d0d0a;
        const bom = dv.getUint32(p + 8, true);
        if (bom === 0x1a2b3c4d) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else { this.pos = this.end; this.eofNow(); this.frames++; this.skipped[SKIP.bad_block]++; return -1; }
      }
      const len = dv.getUint32(p + 4, this.le);
      if (len > MAX_RECORD) { this.pos = this.end; this.eofNow(); this.frames++; this.skipped[SKIP.oversized_frame]++; return -1; }
      if (len >= 12 && len % 4 === 0 && p + len > this.end) { p = this.need(p, len); dv = this.dv; }
      if (len < 12 || len % 4 !== 0 || p + len > this.end) {
        this.pos = this.end; this.eofNow(); this.frames++; this.skipped[SKIP.bad_block]++; return -1;
      }
      this.pos = p + len;
      if (type === 0x0a0d0d0a) { this.ifaces = []; continue; }
      if (type === 1) { this.ifaces.push(this.idb(p, len)); continue; }
      if (type === 6) { // EPB
        this.frames++;
        const ifId = dv.getUint32(p + 8, this.le);
        const ifc = this.ifaces[ifId];
        const incl = dv.getUint32(p + 20, this.le), orig = dv.getUint32(p + 24, this.le);
        if (!ifc || 28 + incl > len) { this.skipped[SKIP.bad_block]++; return -1; }
        const hi = dv.getUint32(p + 12, this.le), lo = dv.getUint32(p + 16, this.le);
        return this.frame(out, o, ifc.link, p + 28, incl, orig, Math.floor((hi * 4294967296 + lo) / ifc.tsDiv));
      }
      if (type === 3) { // SPB: no timestamp; it takes the latest time seen
        this.frames++;
        const ifc = this.ifaces[0];
        const orig = dv.getUint32(p + 8, this.le);
        if (!ifc) { this.skipped[SKIP.bad_block]++; return -1; }
        const incl = Math.min(orig, len - 16);
        return this.frame(out, o, ifc.link, p + 12, incl, orig, -1);
      }
      // other blocks (NRB, ISB, custom ...) carry no packets
    }
  }

  private idb(p: number, len: number): Iface {
    const dv = this.dv;
    const link = dv.getUint16(p + 8, this.le);
    let tsDiv = 1e3; // default if_tsresol 6: microseconds
    let q = p + 16;
    const end = p + len - 4;
    while (q + 4 <= end) {
      const code = dv.getUint16(q, this.le), olen = dv.getUint16(q + 2, this.le);
      if (code === 0) break;
      if (code === 9 && olen >= 1) {
        const r = dv.getUint8(q + 4);
        const ticksPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        tsDiv = ticksPerSec / 1000;
      }
      q += 4 + ((olen + 3) & ~3);
    }
    return { link, tsDiv };
  }

  /** Parse one frame at `s` (captured `incl`, original `orig` bytes) into descriptor `o`. */
  private frame(out: DataView, o: number, link: number, s: number, incl: number, orig: number, absMs: number): number {
    const dv = this.dv;
    let ip = s, etype = 0x0800;
    switch (link) {
      case LINKTYPE.ETHERNET:
        if (incl < 14) return this.skip(SKIP.truncated_frame);
        etype = dv.getUint16(s + 12, false); ip = s + 14;
        while (etype === 0x8100 || etype === 0x88a8) { // VLAN tags
          if (ip + 4 > s + incl) return this.skip(SKIP.truncated_frame);
          etype = dv.getUint16(ip + 2, false); ip += 4;
        }
        break;
      case LINKTYPE.LINUX_SLL:
        if (incl < 16) return this.skip(SKIP.truncated_frame);
        etype = dv.getUint16(s + 14, false); ip = s + 16; break;
      case LINKTYPE.LINUX_SLL2:
        if (incl < 20) return this.skip(SKIP.truncated_frame);
        etype = dv.getUint16(s, false); ip = s + 20; break;
      case LINKTYPE.RAW: case LINKTYPE.IPV4: break;
      default: return this.skip(SKIP.unsupported_link_type);
    }
    if (etype !== 0x0800) return this.skip(SKIP.not_ipv4);
    const end = s + incl;
    if (ip + 20 > end) return this.skip(SKIP.truncated_frame);
    const vihl = dv.getUint8(ip);
    if (vihl >> 4 !== 4) return this.skip(link === LINKTYPE.RAW && vihl >> 4 === 6 ? SKIP.not_ipv4 : SKIP.bad_ip_version);
    const ihl = (vihl & 15) * 4;
    if (ihl < 20) return this.skip(SKIP.bad_ihl);
    if (ip + ihl > end) return this.skip(SKIP.truncated_frame);
    const total = dv.getUint16(ip + 2, false);
    if (total < ihl) return this.skip(SKIP.bad_ip_total_length);
    const frag = dv.getUint16(ip + 6, false);
    if ((frag & 0x1fff) !== 0) return this.skip(SKIP.ip_fragment); // only the first fragment has the L4 header
    const proto = dv.getUint8(ip + 9);
    const l4 = ip + ihl;
    let sport = 0, dport = 0, flags = 0;
    switch (proto) {
      case 6:
        if (l4 + 14 > end) return this.skip(SKIP.truncated_l4_header);
        sport = dv.getUint16(l4, false); dport = dv.getUint16(l4 + 2, false); flags = dv.getUint8(l4 + 13) & 0x1f;
        break;
      case 17: case 132:
        if (l4 + 4 > end) return this.skip(SKIP.truncated_l4_header);
        sport = dv.getUint16(l4, false); dport = dv.getUint16(l4 + 2, false);
        break;
      case 1: {
        if (l4 + 8 > end) return this.skip(SKIP.truncated_l4_header);
        const t = dv.getUint8(l4);
        if (t === 0 || t === 8) sport = dv.getUint16(l4 + 4, false); // echo identifier (PKT layout)
        break;
      }
      default: return this.skip(SKIP.unsupported_l4_protocol);
    }
    out.setUint32(o + PKT.SADDR, dv.getUint32(ip + 12, false), true);
    out.setUint32(o + PKT.DADDR, dv.getUint32(ip + 16, false), true);
    out.setUint16(o + PKT.SPORT, sport, true); out.setUint16(o + PKT.DPORT, dport, true);
    out.setUint8(o + PKT.PROTO, proto); out.setUint8(o + PKT.TCP_FLAGS, flags);
    out.setUint16(o + PKT.NODE, 0, true);
    // LEN: the IP packet's length (total length field), clamped to 16 bits
    out.setUint16(o + PKT.LEN, total, true);
    void orig;
    for (let k = PKT.OUT_SADDR; k < PKT.STRIDE; k += 4) out.setUint32(o + k, 0, true);
    if (absMs < 0) return this.lastMs; // SPB
    if (this.t0 < 0) this.t0 = absMs;
    let ms = absMs - this.t0;
    if (ms < this.lastMs) ms = this.lastMs;
    this.lastMs = ms;
    return ms;
  }

  private skip(reason: number): number { this.skipped[reason]++; return -1; }
}
