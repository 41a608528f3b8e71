// Mirror of assembly/prng.ts (mulberry32): one seeded stream per node (starting at seed + its address * NODE_SPACING).
export const NODE_SPACING = 0x9e3779b9;

export class Prng {
  constructor(public state: number) { this.state >>>= 0; }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}
