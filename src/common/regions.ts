// First-fit allocator of index ranges in a fixed-size array map (backend slots,
// Maglev cells). Control plane only. Free ranges are kept sorted and coalesced.

export class RegionAllocator {
  private free: { off: number; len: number }[];
  constructor(readonly capacity: number) { this.free = [{ off: 0, len: capacity }]; }

  /** Offset of a new range of `len`, or -1 when no free range is long enough. */
  alloc(len: number): number {
    if (len === 0) return 0;
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.len >= len) {
        const off = f.off;
        f.off += len; f.len -= len;
        if (f.len === 0) this.free.splice(i, 1);
        return off;
      }
    }
    return -1;
  }

  release(off: number, len: number): void {
    if (len === 0) return;
    let i = 0;
    while (i < this.free.length && this.free[i].off < off) i++;
    this.free.splice(i, 0, { off, len });
    // coalesce with the neighbours
    if (i + 1 < this.free.length && this.free[i].off + this.free[i].len === this.free[i + 1].off) {
      this.free[i].len += this.free[i + 1].len; this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].off + this.free[i - 1].len === this.free[i].off) {
      this.free[i - 1].len += this.free[i].len; this.free.splice(i, 1);
    }
  }

  get freeTotal(): number { return this.free.reduce((a, f) => a + f.len, 0); }
}
