// The reference nftables design: the service chain's `numgen random mod N` vmap (assembly/designs/nftables.ts).

import { Prng } from '../../common/prng.js';

/** `numgen random mod N`: reciprocal_scale(random, N). */
export function nftPick(prng: Prng, n: number): number {
  return Number((BigInt(prng.next()) * BigInt(n)) >> 32n);
}
