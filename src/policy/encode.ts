// Verdicts over port ranges, and how they become policy map entries: the port segments a set of
// clauses cuts, and the prefix-aligned blocks (as CIDRs are) that make the core's "most specific
// entry" lookup give each port its verdict (see compile.ts).

import type { Protocol } from '../k8s/basics.js';
import { POLICY_VERDICT } from '../dataplane.js';
import { KUBERNETES_PROTOCOLS, PROTO } from '../protocols.js';
import type { PortClause } from './model.js';
import type { NamedPort } from './identity.js';

/** The protocols a policy port names, and their numbers: the protocol table's (src/protocols.ts). */
export const PROTO_NUMBER: Record<Protocol, number> = { TCP: PROTO.TCP, UDP: PROTO.UDP, SCTP: PROTO.SCTP };
export const PROTOCOLS: readonly Protocol[] = KUBERNETES_PROTOCOLS;
export const MAX_PORT = 0xffff;

/** A verdict with the rule that gave it (rule 0: allowed because nothing isolates). */
export interface V { verdict: number; rule: number }
export const sameV = (a: V, b: V) => a.verdict === b.verdict && a.rule === b.rule;
export const ALLOW_DEFAULT: V = { verdict: POLICY_VERDICT.ALLOW, rule: 0 };

/** Per protocol number, inclusive port ranges; 'all': every protocol and port. */
export type PortSet = 'all' | Map<number, [number, number][]>;


export interface Segment { lo: number; hi: number; v: V }


/** Port ranges of a clause's ports, named ports resolved against `named` (the destination pod's). */
export function resolvePorts(ports: PortClause[] | null, named: NamedPort[]): PortSet {
  if (ports === null) return 'all';
  const out = new Map<number, [number, number][]>();
  const add = (proto: Protocol, lo: number, hi: number) => {
    const n = PROTO_NUMBER[proto];
    let l = out.get(n);
    if (!l) out.set(n, (l = []));
    l.push([lo, hi]);
  };
  for (const pc of ports) {
    if (typeof pc.port === 'string') {
      for (const np of named) if (np.name === pc.port && (pc.anyProtocol || np.protocol === pc.protocol)) add(np.protocol, np.port, np.port);
    } else if (pc.port === undefined) add(pc.protocol, 0, MAX_PORT);
    else add(pc.protocol, pc.port, pc.endPort ?? pc.port);
  }
  return out;
}

export function portSetHas(s: PortSet, proto: number, port: number): boolean {
  if (s === 'all') return true;
  const l = s.get(proto);
  return l !== undefined && l.some(([lo, hi]) => port >= lo && port <= hi);
}

/** The aligned blocks (port, prefix length) covering [lo, hi] exactly, as a range becomes CIDRs. */
export function portBlocks(lo: number, hi: number): { port: number; plen: number }[] {
  const out: { port: number; plen: number }[] = [];
  let p = lo;
  while (p <= hi) {
    let size = p === 0 ? 0x10000 : p & -p; // largest block aligned at p
    while (p + size - 1 > hi) size >>= 1;
    out.push({ port: p, plen: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

/** The verdict `fall` gives at `port` (a constant, or segments covering every port). */
export function fallAt(fall: V | Segment[], port: number): V {
  if (!Array.isArray(fall)) return fall;
  for (const s of fall) if (port >= s.lo && port <= s.hi) return s.v;
  throw new Error(`no segment covers port ${port}`);
}

/** Blocks of `segs` where they differ from `fall`. */
export function diffBlocks(segs: Segment[], fall: V | Segment[]): { port: number; plen: number; v: V }[] {
  const out: { port: number; plen: number; v: V }[] = [];
  const cuts = new Set<number>();
  for (const s of segs) cuts.add(s.lo);
  if (Array.isArray(fall)) for (const s of fall) cuts.add(s.lo);
  const starts = [...cuts].sort((a, b) => a - b);
  let runLo = -1, runV: V | undefined;
  const flush = (hi: number) => { if (runV) for (const b of portBlocks(runLo, hi)) out.push({ ...b, v: runV }); runV = undefined; };
  starts.forEach((lo, k) => {
    const hi = k + 1 < starts.length ? starts[k + 1] - 1 : MAX_PORT;
    const v = fallAt(segs, lo);
    if (sameV(v, fallAt(fall, lo))) { flush(lo - 1); return; }
    if (runV && sameV(runV, v)) return;
    flush(lo - 1);
    runLo = lo; runV = v;
    void hi;
  });
  flush(MAX_PORT);
  return out;
}

/**
 * Entries of one protocol: blocks where `segs` differ from what a lookup falls through to, or, when
 * fewer, a whole-protocol entry with the verdict covering most ports plus blocks where they differ.
 */
export function encodeProto(segs: Segment[], fall: V | Segment[]): { base?: V; blocks: { port: number; plen: number; v: V }[] } {
  const plain = diffBlocks(segs, fall);
  if (plain.length <= 1) return { blocks: plain };
  const cover = new Map<string, { v: V; n: number }>();
  for (const s of segs) {
    const k = `${s.v.verdict}:${s.v.rule}`;
    const c = cover.get(k) ?? { v: s.v, n: 0 };
    c.n += s.hi - s.lo + 1;
    cover.set(k, c);
  }
  let best: { v: V; n: number } | undefined;
  for (const c of cover.values()) if (!best || c.n > best.n) best = c;
  const withBase = diffBlocks(segs, best!.v);
  return withBase.length + 1 < plain.length ? { base: best!.v, blocks: withBase } : { blocks: plain };
}
