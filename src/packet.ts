// Host mirror of assembly/packet.ts: the packed packet descriptor (layout drawn
// there), its constants and names, and PacketBatch, a typed window onto a batch
// that lives either in the core's linear memory or in a plain ArrayBuffer.

export const PKT = {
  SADDR: 0, DADDR: 4, SPORT: 8, DPORT: 10, PROTO: 12, TCP_FLAGS: 13, NODE: 14, LEN: 16,
  OUT_SADDR: 20, OUT_DADDR: 24, OUT_SPORT: 28, OUT_DPORT: 30, VERDICT: 32, DROP_REASON: 33,
  CT_STATE: 34, NAT_FLAGS: 35, SERVICE: 36, BACKEND: 40, POLICY_RULE: 44,
  HOP_NODE: 48, HOP_VERDICT: 50, HOP_CT_STATE: 51, HOP_NAT_FLAGS: 52,
  STRIDE: 64,
} as const;

export const NONE = 0xffffffff;
/** hopNode of a packet processed on its entry node alone. */
export const NODE_NONE = 0xffff;

export { PROTO, PROTO_NAMES } from './protocols.js'; // the protocol table lives in src/protocols.ts

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export const VERDICT = { FORWARDED: 1, DROPPED: 2, REJECTED: 3 } as const;
export const VERDICT_NAMES = ['NONE', 'FORWARDED', 'DROPPED', 'REJECTED'] as const;

/** Drop reasons, by Hubble's flow.DropReason names. Index = code in the descriptor. */
export const DROP_REASON_NAMES = [
  'NONE', 'INVALID_SOURCE_IP', 'INVALID_PACKET_DROPPED', 'UNKNOWN_L4_PROTOCOL', 'POLICY_DENIED',
  'POLICY_DENY', 'SERVICE_BACKEND_NOT_FOUND', 'CT_MAP_INSERTION_FAILED', 'NO_MAPPING_FOR_NAT_MASQUERADE',
  'DENIED_BY_LB_SRC_RANGE_CHECK', 'NODE_DOWN',
] as const;
export const DROP = {
  NONE: 0, INVALID_SOURCE_IP: 1, INVALID_PACKET: 2, UNKNOWN_L4_PROTOCOL: 3, POLICY_DENIED: 4,
  POLICY_DENY: 5, SERVICE_BACKEND_NOT_FOUND: 6, CT_MAP_INSERTION_FAILED: 7, NAT_NO_MAPPING: 8,
  NOT_IN_SRC_RANGE: 9,
  /** dpemu's own: the packet entered, or crossed to, a node that has failed (no Cilium code: the node is gone). */
  NODE_DOWN: 10,
} as const;

export const CT_STATE = { NONE: 0, NEW: 1, ESTABLISHED: 2, REPLY: 3, REOPENED: 4 } as const;
export const CT_STATE_NAMES = ['NONE', 'NEW', 'ESTABLISHED', 'REPLY', 'REOPENED'] as const;

export const NAT = { DNAT: 1, SNAT: 2, REVNAT: 4, AFFINITY: 8, HAIRPIN: 16 } as const;

/** Counter slots (assembly/counters.ts). */
export const COUNTER = {
  VERDICT: 0, DROP: 8, CT_CREATED: 32, CT_EVICTED: 33, CT_EXPIRED: 34, AFFINITY_EVICTED: 35,
  PACKETS: 36, BYTES: 37, POLICY_LOOKUPS: 38, CT_REOPENED: 39, IPVS_SCHED_EVICTED: 40, LENGTH: 48,
} as const;

/** What the host writes for one packet. */
export interface PacketIn {
  saddr: number; daddr: number; sport: number; dport: number; proto: number;
  tcpFlags?: number; node?: number; len?: number;
}

/** One packet's descriptor, decoded (inputs and what the pipeline wrote). */
export interface PacketRecord extends Required<PacketIn> {
  outSaddr: number; outDaddr: number; outSport: number; outDport: number;
  verdict: number; dropReason: number; ctState: number; natFlags: number;
  service: number; backend: number; policyRule: number;
  /** The second hop (the node owning the destination, when not the entry node): NODE_NONE when none. */
  hopNode: number; hopVerdict: number; hopCtState: number; hopNatFlags: number;
}

/**
 * A batch of fixed-stride descriptors at byte offset `ptr` of a buffer that may
 * be replaced (WebAssembly memory grows by replacing its ArrayBuffer): views are
 * re-made whenever the buffer changes.
 */
export class PacketBatch {
  private buf: ArrayBuffer | undefined;
  private dv!: DataView;
  private u8!: Uint8Array;

  /**
   * `owner`: the dataplane whose allocBatch made it; process() refuses a batch of another one (a batch's
   * offset means nothing in another instance's memory).
   */
  constructor(private readonly buffer: () => ArrayBuffer, readonly ptr: number, readonly capacity: number, readonly owner?: object) {}

  view(): DataView {
    const b = this.buffer();
    if (b !== this.buf) {
      this.buf = b;
      this.dv = new DataView(b, this.ptr, this.capacity * PKT.STRIDE);
      this.u8 = new Uint8Array(b, this.ptr, this.capacity * PKT.STRIDE);
    }
    return this.dv;
  }

  /** Descriptors [start, start + count) of this batch, as a batch of their own over the same memory. */
  slice(start: number, count: number): PacketBatch {
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= this.capacity)) {
      throw new RangeError(`packets ${start}..${start + count - 1} outside batch of ${this.capacity}`);
    }
    return new PacketBatch(this.buffer, this.ptr + start * PKT.STRIDE, count, this.owner);
  }

  /** The raw bytes of the first `count` descriptors (a live view: copy it to keep it). */
  bytes(count = this.capacity): Uint8Array {
    this.view();
    return this.u8.subarray(0, count * PKT.STRIDE);
  }

  /** set() with the fields as arguments (no object per packet). */
  write(i: number, saddr: number, daddr: number, sport: number, dport: number, proto: number, tcpFlags: number, node: number, len: number): void {
    if (!(i >= 0 && i < this.capacity)) throw new RangeError(`packet index ${i} outside batch of ${this.capacity}`);
    const d = this.view(), o = i * PKT.STRIDE;
    this.u8.fill(0, o, o + PKT.STRIDE);
    d.setUint32(o + PKT.SADDR, saddr, true); d.setUint32(o + PKT.DADDR, daddr, true);
    d.setUint16(o + PKT.SPORT, sport, true); d.setUint16(o + PKT.DPORT, dport, true);
    d.setUint8(o + PKT.PROTO, proto); d.setUint8(o + PKT.TCP_FLAGS, tcpFlags);
    d.setUint16(o + PKT.NODE, node, true); d.setUint16(o + PKT.LEN, len, true);
  }

  set(i: number, p: PacketIn): void {
    this.write(i, p.saddr, p.daddr, p.sport, p.dport, p.proto, p.tcpFlags ?? 0, p.node ?? 0, p.len ?? 64);
  }


  get(i: number): PacketRecord {
    if (!(i >= 0 && i < this.capacity)) throw new RangeError(`packet index ${i} outside batch of ${this.capacity}`);
    const d = this.view(), o = i * PKT.STRIDE;
    return {
      saddr: d.getUint32(o + PKT.SADDR, true), daddr: d.getUint32(o + PKT.DADDR, true),
      sport: d.getUint16(o + PKT.SPORT, true), dport: d.getUint16(o + PKT.DPORT, true),
      proto: d.getUint8(o + PKT.PROTO), tcpFlags: d.getUint8(o + PKT.TCP_FLAGS),
      node: d.getUint16(o + PKT.NODE, true), len: d.getUint16(o + PKT.LEN, true),
      outSaddr: d.getUint32(o + PKT.OUT_SADDR, true), outDaddr: d.getUint32(o + PKT.OUT_DADDR, true),
      outSport: d.getUint16(o + PKT.OUT_SPORT, true), outDport: d.getUint16(o + PKT.OUT_DPORT, true),
      verdict: d.getUint8(o + PKT.VERDICT), dropReason: d.getUint8(o + PKT.DROP_REASON),
      ctState: d.getUint8(o + PKT.CT_STATE), natFlags: d.getUint8(o + PKT.NAT_FLAGS),
      service: d.getUint32(o + PKT.SERVICE, true), backend: d.getUint32(o + PKT.BACKEND, true),
      policyRule: d.getUint32(o + PKT.POLICY_RULE, true),
      hopNode: d.getUint16(o + PKT.HOP_NODE, true), hopVerdict: d.getUint8(o + PKT.HOP_VERDICT),
      hopCtState: d.getUint8(o + PKT.HOP_CT_STATE), hopNatFlags: d.getUint8(o + PKT.HOP_NAT_FLAGS),
    };
  }

  /** get(), into a record the caller keeps (made by get()): no object per packet where records are read in a loop. */
  read(i: number, r: PacketRecord): PacketRecord {
    if (!(i >= 0 && i < this.capacity)) throw new RangeError(`packet index ${i} outside batch of ${this.capacity}`);
    const d = this.view(), o = i * PKT.STRIDE;
    r.saddr = d.getUint32(o + PKT.SADDR, true); r.daddr = d.getUint32(o + PKT.DADDR, true);
    r.sport = d.getUint16(o + PKT.SPORT, true); r.dport = d.getUint16(o + PKT.DPORT, true);
    r.proto = d.getUint8(o + PKT.PROTO); r.tcpFlags = d.getUint8(o + PKT.TCP_FLAGS);
    r.node = d.getUint16(o + PKT.NODE, true); r.len = d.getUint16(o + PKT.LEN, true);
    r.outSaddr = d.getUint32(o + PKT.OUT_SADDR, true); r.outDaddr = d.getUint32(o + PKT.OUT_DADDR, true);
    r.outSport = d.getUint16(o + PKT.OUT_SPORT, true); r.outDport = d.getUint16(o + PKT.OUT_DPORT, true);
    r.verdict = d.getUint8(o + PKT.VERDICT); r.dropReason = d.getUint8(o + PKT.DROP_REASON);
    r.ctState = d.getUint8(o + PKT.CT_STATE); r.natFlags = d.getUint8(o + PKT.NAT_FLAGS);
    r.service = d.getUint32(o + PKT.SERVICE, true); r.backend = d.getUint32(o + PKT.BACKEND, true);
    r.policyRule = d.getUint32(o + PKT.POLICY_RULE, true);
    r.hopNode = d.getUint16(o + PKT.HOP_NODE, true); r.hopVerdict = d.getUint8(o + PKT.HOP_VERDICT);
    r.hopCtState = d.getUint8(o + PKT.HOP_CT_STATE); r.hopNatFlags = d.getUint8(o + PKT.HOP_NAT_FLAGS);
    return r;
  }

  /** Write the output fields of packet i (the reference backend's way of answering); no hop fields: one node. */
  setOutput(i: number, r: Pick<PacketRecord, 'outSaddr' | 'outDaddr' | 'outSport' | 'outDport' | 'verdict' |
    'dropReason' | 'ctState' | 'natFlags' | 'service' | 'backend' | 'policyRule'> &
    Partial<Pick<PacketRecord, 'hopNode' | 'hopVerdict' | 'hopCtState' | 'hopNatFlags'>>): void {
    const d = this.view(), o = i * PKT.STRIDE;
    d.setUint32(o + PKT.OUT_SADDR, r.outSaddr, true); d.setUint32(o + PKT.OUT_DADDR, r.outDaddr, true);
    d.setUint16(o + PKT.OUT_SPORT, r.outSport, true); d.setUint16(o + PKT.OUT_DPORT, r.outDport, true);
    d.setUint8(o + PKT.VERDICT, r.verdict); d.setUint8(o + PKT.DROP_REASON, r.dropReason);
    d.setUint8(o + PKT.CT_STATE, r.ctState); d.setUint8(o + PKT.NAT_FLAGS, r.natFlags);
    d.setUint32(o + PKT.SERVICE, r.service, true); d.setUint32(o + PKT.BACKEND, r.backend, true);
    d.setUint32(o + PKT.POLICY_RULE, r.policyRule, true);
    d.setUint16(o + PKT.HOP_NODE, r.hopNode ?? NODE_NONE, true); d.setUint8(o + PKT.HOP_VERDICT, r.hopVerdict ?? 0);
    d.setUint8(o + PKT.HOP_CT_STATE, r.hopCtState ?? 0); d.setUint8(o + PKT.HOP_NAT_FLAGS, r.hopNatFlags ?? 0);
    d.setUint8(o + PKT.HOP_NAT_FLAGS + 1, 0); d.setUint16(o + PKT.HOP_NAT_FLAGS + 2, 0, true); // reserved: zero, as the core writes it
  }
}

/** Parse TCP flags written as letters: S SYN, A ACK, F FIN, R RST, P PSH ("SA" = SYN+ACK). */
/** TCP flag bits by the char code of their letter (S, A, F, R, P, either case); 0 for any other character. */
const TCP_FLAG_BITS = (() => {
  const t = new Uint8Array(128);
  for (const [c, f] of [['S', TCP.SYN], ['A', TCP.ACK], ['F', TCP.FIN], ['R', TCP.RST], ['P', TCP.PSH]] as const) {
    t[c.charCodeAt(0)] = f; t[c.toLowerCase().charCodeAt(0)] = f;
  }
  return t;
})();
/** The flag bit of one character code of a flags string, 0 when it names no flag. */
export const tcpFlagBit = (code: number): number => (code < 128 ? TCP_FLAG_BITS[code] : 0);

export function parseTcpFlags(text: string): number {
  let f = 0;
  // Letter by letter, without toUpperCase: Unicode case mapping would read "ß" as "SS" (a SYN).
  for (const c of text) {
    const bit = c.length === 1 ? tcpFlagBit(c.charCodeAt(0)) : 0;
    if (bit === 0) throw new Error(`unknown TCP flag ${JSON.stringify(c)} in ${showValue(text)} (use S, A, F, R, P)`);
    f |= bit;
  }
  return f;
}

/**
 * A value for an error message: short strings and numbers as JSON, a long string cut (with its length),
 * lists and objects by kind only — a message never repeats a huge input, and never walks a deep one.
 */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return v.length <= 64 ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, 64))}... (${v.length} characters)`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

export function formatTcpFlags(f: number): string {
  return (f & TCP.SYN ? 'S' : '') + (f & TCP.ACK ? 'A' : '') + (f & TCP.FIN ? 'F' : '') +
    (f & TCP.RST ? 'R' : '') + (f & TCP.PSH ? 'P' : '');
}
