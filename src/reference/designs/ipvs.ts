// The reference ipvs design: the kernel's schedulers over plain arrays (the rules and their sources:
// assembly/designs/ipvs.ts).

import { Algorithm } from '../../dataplane.js';

/** A destination's weight and IPVS connection counts (activeconns, inactconns). */
export interface Dest { weight: number; active: number; inactive: number }
/** ip_vs_dest_conn_overhead: (activeconns << 8) + inactconns. */
const overhead = (x: Dest) => x.active * 256 + x.inactive;

/** IPVS scheduler state of one service (assembly/designs/ipvs.ts). */
export interface IpvsState { rr: number; cl: number; cw: number }

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
function gcdWeight(d: Dest[]): number {
  let g = 0;
  for (const x of d) if (x.weight > 0) g = g > 0 ? gcd(x.weight, g) : x.weight;
  return g || 1;
}
const maxWeight = (d: Dest[]) => d.reduce((m, x) => Math.max(m, x.weight), 0);

/** The destinations changed: ip_vs_rr keeps its cursor if it still names one; ip_vs_wrr_dest_changed / init_svc. */
export function ipvsServiceChanged(old: IpvsState | undefined, d: Dest[]): IpvsState {
  const di = gcdWeight(d), mw = maxWeight(d) - (di - 1);
  if (!old) return { rr: -1, cl: -1, cw: mw };
  let cw = old.cw;
  if (cw > mw || cw === 0) cw = mw;
  else if (di > 1) cw = Math.trunc(cw / di) * di + 1;
  return { rr: old.rr >= d.length ? -1 : old.rr, cl: -1, cw };
}

const mul = (a: number, b: number) => BigInt(a) * BigInt(b);
const imulU = (a: number, b: number) => Math.imul(a, b) >>> 0;

/** The kernel scheduler `algo` over destinations `d`: a slot, or -1 when none is available. */
export function ipvsSchedule(st: IpvsState, algo: Algorithm, d: Dest[], saddr: number, daddr: number): number {
  const n = d.length;
  switch (algo) {
    case 'rr':
      for (let k = 0; k < n; k++) {
        const i = (st.rr + 1 + k) % n;
        if (d[i].weight > 0) { st.rr = i; return i; }
      }
      return -1;
    case 'wrr': {
      const di = gcdWeight(d), mw = maxWeight(d) - (di - 1);
      if (mw <= 0) return -1;
      const last = st.cl;
      let cw = st.cw, dd = last, stop = -2, lastPass = false, restarted = false;
      for (;;) {
        for (dd = dd + 1; dd < n; dd++) {
          if (d[dd].weight >= cw) { st.cl = dd; st.cw = cw; return dd; }
          if (dd === stop) { st.cl = dd; st.cw = cw; return -1; }
        }
        dd = -1;
        cw -= di;
        if (cw <= 0) {
          cw = mw;
          if (lastPass || last === -1) { st.cl = dd; st.cw = cw; return -1; }
          restarted = true;
        }
        lastPass = cw <= di;
        if (lastPass && restarted && last !== -1) stop = last;
      }
    }
    case 'lc': {
      let least = -1, loh = 0;
      for (let i = 0; i < n; i++) {
        if (d[i].weight === 0) continue;
        const doh = overhead(d[i]);
        if (least < 0 || doh < loh) { least = i; loh = doh; }
      }
      return least;
    }
    case 'wlc': case 'sed': {
      const oh = (x: Dest) => (algo === 'sed' ? x.active + 1 : overhead(x));
      const first = d.findIndex((x) => x.weight > 0);
      if (first < 0) return -1;
      let least = first, loh = oh(d[first]);
      for (let i = first + 1; i < n; i++) {
        const doh = oh(d[i]);
        if (mul(loh, d[i].weight) > mul(doh, d[least].weight)) { least = i; loh = doh; }
      }
      return least;
    }
    case 'nq': {
      let least = -1, loh = 0;
      for (let i = 0; i < n; i++) {
        if (d[i].weight === 0) continue;
        if (d[i].active === 0) return i;
        const doh = d[i].active + 1;
        if (least < 0 || mul(loh, d[i].weight) > mul(doh, d[least].weight)) { least = i; loh = doh; }
      }
      return least;
    }
    case 'sh': case 'dh': {
      // sh: hash_32(addr, 8), the multiplier GOLDEN_RATIO_32 (Linux >= 4.7); dh: the old multiplicative hash.
      const bucket = algo === 'sh' ? imulU(saddr, 0x61c88647) >>> 24 : imulU(daddr, 2654435761) & 255;
      let i: number;
      if (algo === 'dh') i = bucket % n;
      else {
        // ip_vs_sh_reassign: max(weight, 1) consecutive buckets per destination, cycling.
        const table: number[] = [];
        for (let k = 0; table.length < 256; k = (k + 1) % n) for (let c = 0; c < Math.max(d[k].weight, 1) && table.length < 256; c++) table.push(k);
        i = table[bucket];
      }
      return d[i].weight === 0 ? -1 : i;
    }
    default:
      throw new Error(`ipvs has no scheduler ${algo}`);
  }
}
