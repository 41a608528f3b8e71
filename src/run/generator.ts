// The traffic generator of `dpemu run`: connections with full lifecycles, written straight into the packed
// descriptors of a batch (no object per packet), and advanced by what the dataplane did to their packets.
//
// A connection lives in a row of typed arrays (struct of arrays; rows are recycled). Its packets are steps:
//
//   TCP, R requests:  SYN c->s | SYN-ACK s->c | ACK c->s | R x (PSH-ACK c->s, PSH-ACK s->c) |
//                     FIN-ACK c->s, FIN-ACK s->c, ACK c->s   (or one RST c->s instead of the three)
//   UDP/SCTP:         R x (request c->s, reply s->c)
//   before either, when the target is a DNS name: one query (UDP to the cluster DNS, port 53) and its reply
//   for every name the client's resolver tries (search list), as real packets through the dataplane.
//
// Client packets go to the address the client knows (a cluster IP, a node port, a pod); the server's packets
// are the replies a backend sends: from the address and port the first packet was translated to, to the
// source it arrived with (after any SNAT), entering on the backend's node, so that the dataplane's reverse NAT
// and conntrack are exercised. A reply follows its request one tick (1 ms) later; a connection's client
// packets are spread over its lifetime. A dropped or rejected packet ends its connection as failed (a dropped
// DNS query fails the lookup, as a resolver whose queries go unanswered gives up).
//
// Schedule: a timing wheel of 1 ms slots, each a linked list of rows (the `next` array). Every random choice
// comes from one seeded generator, so a run is reproducible.

import { PKT, TCP, VERDICT, PROTO } from '../packet.js';
import { Prng } from '../common/prng.js';

/** Where a connection's packets go, as the run resolved them for it (plain numbers). */
export interface NewConnection {
  client: number; clientPort: number; node: number;
  dst: number; dport: number; proto: number;
  entry: number; requests: number; requestBytes: number; responseBytes: number;
  lifetimeMs: number; rst: boolean;
  /** DNS queries before the connection (names tried), 0 for none. */
  dnsQueries: number;
  dnsAddr: number;
  /** The lookup found no address: the connection ends after its queries. */
  dnsFails: boolean;
  /** The caller's id of the lookup (told to `onLookupDone` when it ends), or -1. */
  lookup?: number;
  retransmit: number;
}

/** What happened to connections, per traffic entry. */
export interface ConnectionStats {
  opened: number; completed: number; failed: number;
  /** Failures by the step that failed: connect (first packet), reply (a server packet), data, close, dns. */
  failedAt: Record<'connect' | 'reply' | 'data' | 'close' | 'dns', number>;
  /** HTTP requests by the status the Gateway or Ingress gave (a routed request's connection goes on to its Service). */
  http: Record<string, number>;
  dnsLookups: number; dnsQueries: number; dnsFailed: number; dnsBlocked: number;
  packets: number; retransmissions: number;
}

export const emptyStats = (): ConnectionStats => ({
  opened: 0, completed: 0, failed: 0, failedAt: { connect: 0, reply: 0, data: 0, close: 0, dns: 0 },
  dnsLookups: 0, dnsQueries: 0, dnsFailed: 0, dnsBlocked: 0, packets: 0, retransmissions: 0, http: {},
});

/** The run's only source of randomness: the project's seeded PRNG (common/prng.ts), as fractions and choices. */
export class Random {
  private readonly prng: Prng;
  constructor(seed: number) { this.prng = new Prng(seed); }
  /** Uniform in [0, 1). */
  next(): number { return this.prng.next() / 4294967296; }
  /** Uniform integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  /** Exponential with the given rate (per unit). */
  exp(rate: number): number { return -Math.log(1 - this.next()) / rate; }
}

/** Cumulative weights of Zipf's law over n ranks with exponent s (rank k has weight 1/k^s). */
export function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) { sum += 1 / k ** s; cdf[k - 1] = sum; }
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  return cdf;
}

/** The index a uniform u falls into in a cumulative distribution. */
export function pick(cdf: Float64Array, u: number): number {
  let lo = 0, hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (u < cdf[mid]) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/**
 * Typed views of a batch's descriptors (faster than a DataView per field). Typed arrays use the host's byte
 * order and the descriptors are little-endian (WebAssembly memory is): every host Node and browsers run on
 * is little-endian, and a big-endian one is refused rather than misread.
 */
interface Views { u32: Uint32Array; u16: Uint16Array; u8: Uint8Array }
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function views(bytes: Uint8Array, count: number): Views {
  if (!LITTLE_ENDIAN) throw new Error('dpemu run needs a little-endian host (packet descriptors are little-endian)');
  if (bytes.byteOffset % 4 !== 0) throw new RangeError('packet descriptors must start at a multiple of 4 bytes');
  const len = count * PKT.STRIDE;
  return { u32: new Uint32Array(bytes.buffer, bytes.byteOffset, len >> 2), u16: new Uint16Array(bytes.buffer, bytes.byteOffset, len >> 1), u8: new Uint8Array(bytes.buffer, bytes.byteOffset, len) };
}

const PHASE_DNS = 0, PHASE_MAIN = 1;
const WHEEL = 1 << 12; // 4.096 s of 1 ms slots; rows due later wait for their round
const NIL = -1;

/** Steps of a connection's main phase. */
function mainSteps(proto: number, requests: number, rst: boolean): number {
  return proto === PROTO.TCP ? 3 + 2 * requests + (rst ? 1 : 3) : 2 * Math.max(1, requests);
}

export class Generator {
  private cap = 0;
  // connection rows
  private client!: Uint32Array; private cport!: Uint16Array; private node!: Uint16Array;
  private dst!: Uint32Array; private dport!: Uint16Array; private proto!: Uint8Array;
  private entry!: Uint16Array; private requests!: Uint16Array; private reqBytes!: Uint16Array; private respBytes!: Uint16Array;
  private gap!: Uint32Array; private rst!: Uint8Array; private retransmit!: Float32Array;
  private phase!: Uint8Array; private step!: Uint16Array; private steps!: Uint16Array;
  private dnsLeft!: Uint8Array; private dnsFails!: Uint8Array; private dnsAddr!: Uint32Array; private dnsPort!: Uint16Array;
  private lookup!: Int32Array;
  /** Called when a connection's name lookup ends: answered, or not because a query or reply was dropped. */
  onLookupDone?: (lookup: number, blocked: boolean) => void;
  // what the first packet of the current exchange was translated to (the reply's addresses)
  private bAddr!: Uint32Array; private bPort!: Uint16Array; private sAddr!: Uint32Array; private sPort!: Uint16Array; private bNode!: Uint16Array;
  // schedule
  private due!: Float64Array; private next!: Int32Array;
  private readonly slots = new Int32Array(WHEEL).fill(NIL);
  private free: number[] = [];
  private used = 0;
  /** Rows of the packets written by the last fill(), in batch order (-1: a retransmitted copy). */
  private rowsOut = new Int32Array(0);
  private pending: number[] = []; // rows taken off the wheel but not yet written (batch full)
  readonly stats: ConnectionStats[];
  live = 0;

  /**
   * `nodeOf(addr)`: the node id a packet from `addr` enters on (a pod's or a node's own node), or -1.
   * `random`: the run's generator.
   */
  constructor(entries: number, private readonly random: Random, private readonly nodeOf: (addr: number) => number,
    private readonly dnsService: { addr: number; port: number } | undefined) {
    this.stats = Array.from({ length: entries }, emptyStats);
    this.grow(1024);
  }

  private grow(n: number): void {
    const old = this.cap;
    const g = <T extends { set(a: ArrayLike<number>): void }>(make: (n: number) => T, prev: T | undefined): T => {
      const a = make(n);
      if (prev) a.set(prev as unknown as ArrayLike<number>);
      return a;
    };
    this.client = g((k) => new Uint32Array(k), this.client); this.cport = g((k) => new Uint16Array(k), this.cport);
    this.node = g((k) => new Uint16Array(k), this.node); this.dst = g((k) => new Uint32Array(k), this.dst);
    this.dport = g((k) => new Uint16Array(k), this.dport); this.proto = g((k) => new Uint8Array(k), this.proto);
    this.entry = g((k) => new Uint16Array(k), this.entry); this.requests = g((k) => new Uint16Array(k), this.requests);
    this.reqBytes = g((k) => new Uint16Array(k), this.reqBytes); this.respBytes = g((k) => new Uint16Array(k), this.respBytes);
    this.gap = g((k) => new Uint32Array(k), this.gap); this.rst = g((k) => new Uint8Array(k), this.rst);
    this.retransmit = g((k) => new Float32Array(k), this.retransmit);
    this.phase = g((k) => new Uint8Array(k), this.phase); this.step = g((k) => new Uint16Array(k), this.step);
    this.steps = g((k) => new Uint16Array(k), this.steps); this.dnsLeft = g((k) => new Uint8Array(k), this.dnsLeft);
    this.dnsFails = g((k) => new Uint8Array(k), this.dnsFails); this.dnsAddr = g((k) => new Uint32Array(k), this.dnsAddr);
    this.dnsPort = g((k) => new Uint16Array(k), this.dnsPort); this.lookup = g((k) => new Int32Array(k), this.lookup);
    this.bAddr = g((k) => new Uint32Array(k), this.bAddr); this.bPort = g((k) => new Uint16Array(k), this.bPort);
    this.sAddr = g((k) => new Uint32Array(k), this.sAddr); this.sPort = g((k) => new Uint16Array(k), this.sPort);
    this.bNode = g((k) => new Uint16Array(k), this.bNode);
    this.due = g((k) => new Float64Array(k), this.due); this.next = g((k) => new Int32Array(k), this.next);
    for (let i = n - 1; i >= old; i--) this.free.push(i);
    this.cap = n;
  }

  private schedule(row: number, tick: number): void {
    this.due[row] = tick;
    const slot = tick & (WHEEL - 1);
    this.next[row] = this.slots[slot];
    this.slots[slot] = row;
  }

  /** Start a connection at `tick` (ms). */
  open(c: NewConnection, tick: number): void {
    if (this.free.length === 0) this.grow(this.cap * 2);
    const r = this.free.pop()!;
    this.used++;
    this.live++;
    this.client[r] = c.client; this.cport[r] = c.clientPort; this.node[r] = c.node;
    this.dst[r] = c.dst; this.dport[r] = c.dport; this.proto[r] = c.proto; this.entry[r] = c.entry;
    this.requests[r] = Math.min(c.requests, 0xffff); this.reqBytes[r] = c.requestBytes; this.respBytes[r] = c.responseBytes;
    this.rst[r] = c.rst ? 1 : 0; this.retransmit[r] = c.retransmit;
    const steps = mainSteps(c.proto, c.requests, c.rst);
    this.steps[r] = steps;
    // Client packets are spread over the lifetime; every server packet follows one tick after its request.
    const clientSteps = c.proto === PROTO.TCP ? steps - (1 + c.requests + (c.rst ? 0 : 1)) : Math.max(1, c.requests);
    this.gap[r] = Math.max(1, Math.round(c.lifetimeMs / Math.max(1, clientSteps)));
    this.step[r] = 0;
    this.dnsLeft[r] = Math.min(c.dnsQueries, 255); this.dnsFails[r] = c.dnsFails ? 1 : 0; this.dnsAddr[r] = c.dnsAddr;
    this.dnsPort[r] = c.dnsQueries ? 32768 + this.random.int(28232) : 0;
    this.lookup[r] = c.lookup ?? -1;
    this.phase[r] = c.dnsQueries ? PHASE_DNS : PHASE_MAIN;
    const st = this.stats[c.entry];
    st.opened++;
    if (c.dnsQueries) { st.dnsLookups++; st.dnsQueries += c.dnsQueries; }
    this.schedule(r, tick);
  }

  private lookupDone(row: number, blocked: boolean): void {
    const id = this.lookup[row];
    if (id >= 0) { this.lookup[row] = -1; this.onLookupDone?.(id, blocked); }
  }

  private close(row: number, failedAt?: keyof ConnectionStats['failedAt']): void {
    const st = this.stats[this.entry[row]];
    if (failedAt) { st.failed++; st.failedAt[failedAt]++; } else st.completed++;
    this.live--;
    this.used--;
    this.free.push(row);
  }

  /** Whether step `s` of the main phase is sent by the server. */
  private serverStep(row: number, s: number): boolean {
    if (this.proto[row] !== PROTO.TCP) return (s & 1) === 1;
    const R = this.requests[row];
    if (s === 1) return true;
    if (s >= 3 && s < 3 + 2 * R) return ((s - 3) & 1) === 1;
    return !this.rst[row] && s === 3 + 2 * R + 1; // the server's FIN-ACK
  }

  /**
   * Write the packets due at `tick` into the descriptors `u8` (a batch's bytes; at most `capacity` packets).
   * Returns how many were written; call again (after absorb) while it returns `capacity`.
   */
  fill(u8: Uint8Array, capacity: number, tick: number): number {
    if (this.rowsOut.length < capacity) this.rowsOut = new Int32Array(capacity);
    const v = views(u8, capacity);
    // Rows due now: the ones left over from a full batch, then the wheel's slot.
    const slot = tick & (WHEEL - 1);
    let row = this.slots[slot];
    this.slots[slot] = NIL;
    while (row !== NIL) {
      const nx = this.next[row];
      if (this.due[row] <= tick) this.pending.push(row); else { this.next[row] = this.slots[slot]; this.slots[slot] = row; }
      row = nx;
    }
    let n = 0;
    while (this.pending.length && n < capacity - 1) {
      const r = this.pending.pop()!;
      n = this.write(v, n, r);
    }
    return n;
  }

  /** Whether rows wait for the next fill() at the same tick (the batch was full). */
  get hasPending(): boolean { return this.pending.length > 0; }

  private write(v: Views, n: number, r: number): number {
    let saddr: number, daddr: number, sport: number, dport: number, proto: number, flags = 0, node: number, len: number;
    const st = this.stats[this.entry[r]];
    let copies = 1;
    if (this.phase[r] === PHASE_DNS) {
      const reply = (this.step[r] & 1) === 1;
      proto = PROTO.UDP;
      if (!reply) { saddr = this.client[r]; sport = this.dnsPort[r]; daddr = this.dnsService!.addr; dport = this.dnsService!.port; node = this.node[r]; len = 70; }
      else { saddr = this.bAddr[r]; sport = this.bPort[r]; daddr = this.sAddr[r]; dport = this.sPort[r]; node = this.bNode[r]; len = 130; }
    } else {
      const s = this.step[r];
      proto = this.proto[r];
      const server = this.serverStep(r, s);
      if (!server) { saddr = this.client[r]; sport = this.cport[r]; daddr = this.dst[r]; dport = this.dport[r]; node = this.node[r]; }
      else { saddr = this.bAddr[r]; sport = this.bPort[r]; daddr = this.sAddr[r]; dport = this.sPort[r]; node = this.bNode[r]; }
      if (proto === PROTO.TCP) {
        const R = this.requests[r];
        if (s === 0) { flags = TCP.SYN; len = 60; }
        else if (s === 1) { flags = TCP.SYN | TCP.ACK; len = 60; }
        else if (s === 2) { flags = TCP.ACK; len = 52; }
        else if (s < 3 + 2 * R) { flags = TCP.PSH | TCP.ACK; len = 52 + (server ? this.respBytes[r] : this.reqBytes[r]); }
        else if (this.rst[r]) { flags = TCP.RST | TCP.ACK; len = 40; }
        else if (s === 3 + 2 * R + 2) { flags = TCP.ACK; len = 52; }
        else { flags = TCP.FIN | TCP.ACK; len = 52; }
        // A retransmission: the same data segment sent twice.
        if (!server && s >= 3 && s < 3 + 2 * R && this.retransmit[r] > 0 && this.random.next() < this.retransmit[r]) copies = 2;
      } else {
        len = 28 + (server ? this.respBytes[r] : this.reqBytes[r]);
        if (!server && this.retransmit[r] > 0 && this.random.next() < this.retransmit[r]) copies = 2;
      }
    }
    const { u32, u16, u8 } = v;
    for (let c = 0; c < copies; c++) {
      const o = n * PKT.STRIDE;
      u32[(o + PKT.SADDR) >> 2] = saddr; u32[(o + PKT.DADDR) >> 2] = daddr;
      u16[(o + PKT.SPORT) >> 1] = sport; u16[(o + PKT.DPORT) >> 1] = dport;
      u8[o + PKT.PROTO] = proto; u8[o + PKT.TCP_FLAGS] = flags;
      u16[(o + PKT.NODE) >> 1] = node; u16[(o + PKT.LEN) >> 1] = len > 0xffff ? 0xffff : len;
      this.rowsOut[n++] = c === 0 ? r : -1;
    }
    st.packets += copies;
    st.retransmissions += copies - 1;
    return n;
  }

  /** Read what the dataplane did to the `count` packets of the last fill(), and schedule each row's next step. */
  absorb(bytes: Uint8Array, count: number, tick: number): void {
    const { u32, u16, u8 } = views(bytes, count);
    for (let i = 0; i < count; i++) {
      const r = this.rowsOut[i];
      if (r < 0) continue;
      const o = i * PKT.STRIDE;
      const verdict = u8[o + PKT.VERDICT];
      const dns = this.phase[r] === PHASE_DNS;
      const s = this.step[r];
      const server = dns ? (s & 1) === 1 : this.serverStep(r, s);
      if (verdict !== VERDICT.FORWARDED) {
        const st = this.stats[this.entry[r]];
        if (dns) { st.dnsFailed++; st.dnsBlocked++; this.lookupDone(r, true); this.close(r, 'dns'); continue; }
        const R = this.requests[r];
        this.close(r, s === 0 ? 'connect' : server ? 'reply' : this.proto[r] === PROTO.TCP && s >= 3 + 2 * R ? 'close' : 'data');
        continue;
      }
      if (!server) {
        // The reply goes back to where the request was translated to, from there.
        const od = u32[(o + PKT.OUT_DADDR) >> 2];
        this.bAddr[r] = od; this.bPort[r] = u16[(o + PKT.OUT_DPORT) >> 1];
        this.sAddr[r] = u32[(o + PKT.OUT_SADDR) >> 2]; this.sPort[r] = u16[(o + PKT.OUT_SPORT) >> 1];
        const bn = this.nodeOf(od);
        this.bNode[r] = bn >= 0 ? bn : this.node[r];
      }
      let nextTick = tick + 1;
      if (dns) {
        this.step[r] = s + 1;
        if (server && ((s + 1) >> 1) >= this.dnsLeft[r]) {
          // The last name tried has answered: connect, or give up when nothing was found.
          this.lookupDone(r, false);
          if (this.dnsFails[r]) { this.stats[this.entry[r]].dnsFailed++; this.close(r, 'dns'); continue; }
          this.phase[r] = PHASE_MAIN;
          this.step[r] = 0;
        }
      } else {
        if (s + 1 >= this.steps[r]) { this.close(r); continue; }
        this.step[r] = s + 1;
        // After a server packet the client waits its gap; a server answers one tick after the client.
        if (server && !this.serverStep(r, s + 1)) nextTick = tick + this.gap[r];
      }
      this.schedule(r, nextTick);
    }
  }
}
