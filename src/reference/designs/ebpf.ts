// The reference ebpf design: Cilium's endpoint selections (random, Maglev) and the algorithms dpemu adds
// to it (weighted, rr, lc, sh), written the obvious way (the rules: assembly/lb.ts, assembly/designs/ebpf.ts).
// The PRNG draws happen in the same order as the core's, so both backends choose alike.

import { Algorithm, DataplaneError } from '../../dataplane.js';
import { NONE } from '../../packet.js';
import { Prng } from '../../common/prng.js';
import { hashTuple, hashAddr } from '../../common/hash.js';

/** What the choice reads of a service: its algorithm, its backends in slot order, its Maglev table, its rr cursor. */
export interface EbpfService { algo: Algorithm; backends: readonly number[]; maglev?: Uint16Array; rr: number }
/** What it reads of a backend: its weight and its live flows (lc). */
export interface EbpfBackend { weight: number; active: number }
interface Tuple { saddr: number; daddr: number; sport: number; dport: number; proto: number }

/** The slot of `s` a new flow `t` goes to, or NONE; `backend(id)` gives a backend by id. rr advances `s.rr`. */
export function ebpfPick(prng: Prng, s: EbpfService, t: Tuple, hashSeed: number, backend: (id: number) => EbpfBackend): number {
  const n = s.backends.length;
  switch (s.algo) {
    case 'maglev':
      return s.maglev![hashTuple(t.saddr, t.daddr, t.sport, t.dport, t.proto, hashSeed) % s.maglev!.length];
    case 'weighted': {
      const weights = s.backends.map((id) => backend(id).weight);
      const total = weights.reduce((a, b) => a + b, 0);
      if (total === 0) return NONE;
      const r = prng.next() % total;
      let acc = 0;
      for (let i = 0; i < n; i++) { acc += weights[i]; if (r < acc) return i; }
      return NONE;
    }
    case 'rr': {
      const c = s.rr;
      s.rr = (s.rr + 1) >>> 0;
      return c % n;
    }
    case 'lc': {
      let best = 0;
      for (let i = 1; i < n; i++) {
        if (backend(s.backends[i]).active < backend(s.backends[best]).active) best = i;
      }
      return best;
    }
    case 'sh':
      return hashAddr(t.saddr, hashSeed) % n;
    case 'random':
      return prng.next() % n;
    default:
      throw new DataplaneError(`service: algorithm ${s.algo} is not available in the ebpf design`); // refused by setService
  }
}
