// Array map (BPF_MAP_TYPE_ARRAY): `capacity` fixed-size values indexed 0..capacity-1,
// zeroed at creation. An index out of range yields 0, never a stray address.
//
// Header (16 bytes at `m`): +0 values u32 | +4 valueSize u32 | +8 capacity u32

import { allocAligned, allocZeroed } from "../alloc";
import { sizeFits } from "./common";

export function arrayCreate(valueSize: u32, capacity: u32): usize {
  if (valueSize == 0 || capacity == 0 || !sizeFits(<u64>valueSize * capacity)) return 0;
  const m = allocAligned(16, 16);
  if (m == 0) return 0;
  const size = <usize>valueSize * <usize>capacity;
  const values = allocZeroed(size, 64);
  if (values == 0) return 0;
  store<u32>(m, <u32>values); store<u32>(m, valueSize, 4); store<u32>(m, capacity, 8);
  return m;
}

/** Address of element `i`, or 0 when out of range. */
// @ts-ignore: decorator
@inline export function arrayGet(m: usize, i: u32): usize {
  if (i >= load<u32>(m, 8)) return 0;
  return <usize>load<u32>(m) + <usize>i * <usize>load<u32>(m, 4);
}

export function arrayCapacity(m: usize): u32 { return load<u32>(m, 8); }
export function arrayBase(m: usize): usize { return <usize>load<u32>(m); }
