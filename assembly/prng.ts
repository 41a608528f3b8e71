// Seeded PRNG (mulberry32), defined identically in src/common/prng.ts so both
// backends draw the same numbers for the same packet sequence.
let state: u32 = 0x9e3779b9;

export function prngSeed(seed: u32): void { state = seed; }
export function prngState(): u32 { return state; }

/** Added to the state on every draw. */
export const PRNG_STEP: u32 = 0x6d2b79f5;

/** The number drawn when the state becomes `s` (mulberry32's output function). */
// @ts-ignore: decorator
@inline export function prngMix(s: u32): u32 {
  let t = s;
  t = (t ^ (t >> 15)) * (t | 1);
  t ^= t + (t ^ (t >> 7)) * (t | 61);
  return t ^ (t >> 14);
}

export function prngNext(): u32 {
  state += PRNG_STEP;
  return prngMix(state);
}
