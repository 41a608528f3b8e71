// Linear-memory allocator for the control plane. Tables are allocated once, at
// creation, with fixed capacities (as BPF maps are), so a bump allocator that
// grows memory on demand is all the core needs. Nothing here runs per packet.

let heapTop: usize = 0;

/** Out of memory is reported, never trapped: callers get 0 and fail their create. */
export function allocAligned(size: usize, align: usize = 64): usize {
  if (heapTop == 0) heapTop = (__heap_base + 63) & ~<usize>63;
  const start = (heapTop + align - 1) & ~(align - 1);
  const end = start + size;
  if (end < start) return 0; // overflow
  const have = <usize>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  heapTop = end;
  return start;
}

/**
 * allocAligned, zeroed: memory the bump allocator hands out is always fresh (nothing is ever freed), and
 * memory.grow gives zeroed pages, so there is nothing to fill. (Filling them anyway touched every page at
 * creation: 150 ms of a 55 MiB core's start-up for page faults the first packets take just as well; the
 * fast-path rounds after the warm-up measured the same.) 0 when out of memory.
 */
export function allocZeroed(size: usize, align: usize = 64): usize {
  return allocAligned(size, align);
}

/** Bytes of linear memory handed out so far (for memory-per-flow figures). */
export function allocatedBytes(): usize {
  return heapTop == 0 ? 0 : heapTop - __heap_base;
}

/**
 * A worker's instance allocates its own scratch buffers and counters from [start, end) of the shared memory, which
 * the control plane's instance reserved for it (index.ts workerAttach). Returns the previous top.
 */
export function heapMoveTo(start: usize): usize {
  const was = heapTop;
  heapTop = start;
  return was;
}
