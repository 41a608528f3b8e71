// Backend slots: each service entry owns a run of slots (tables.ts backendSlots, a u32 backend id each)
// from its S_SLOTS; the designs choose a slot, and the slot names the backend.

import { backendSlots } from "./tables";
import { arrayBase } from "./maps/array";
import { S_SLOTS } from "./records";

/** Address of slot `slot` of the service at `svc`. */
// @ts-ignore: decorator
@inline export function slotAddr(svc: usize, slot: u32): usize {
  return arrayBase(backendSlots) + ((<usize>load<u32>(svc, S_SLOTS) + slot) << 2);
}

/** The backend id in slot `slot` of the service at `svc`. */
// @ts-ignore: decorator
@inline export function slotBackend(svc: usize, slot: u32): u32 {
  return load<u32>(arrayBase(backendSlots) + ((<usize>load<u32>(svc, S_SLOTS) + slot) << 2));
}
