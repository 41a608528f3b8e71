// Identities and policy verdicts, as Cilium's ipcache + per-endpoint policy map.
//
// ipcache value (12 bytes):  +0 identity u32 | +4 endpoint u32 (0: not a local endpoint)
//                            +8 node u16     | +10 flags u16 (IPC_*)
// An address no prefix covers is the reserved identity WORLD, with no endpoint.
//
// policy key (16 bytes):  +0 endpoint u32 | +4 peer identity u32 (0: any) | +8 port u16 (0: any)
//                         +10 proto u8 (0: any) | +11 direction u8 | +12 zero u32
// policy value (8 bytes): +0 rule id u32 | +4 verdict u8 (POLICY_ALLOW / POLICY_DENY)
//
// An endpoint that no policy isolates in a direction (no IPC_ENFORCE_* flag)
// allows everything in it. An isolated one allows what an ALLOW entry matches
// unless a DENY entry matches too (deny wins, as in Cilium). Six probes cover
// every wildcard combination, so the cost does not grow with the number of policies.

import { ipcache, policy } from "./tables";
import { lpmLookup } from "./maps/lpm";
import { hashLookup } from "./maps/hash";
import { allocAligned } from "./alloc";
import { count, C_POLICY_LOOKUPS } from "./counters";
import { NODE_NONE } from "./packet";

export const IDENTITY_HOST: u32 = 1;   // reserved:host
export const IDENTITY_WORLD: u32 = 2;  // reserved:world
export const IPC_POD: u16 = 1; export const IPC_HOST: u16 = 2;
export const IPC_ENFORCE_INGRESS: u16 = 4; export const IPC_ENFORCE_EGRESS: u16 = 8;
export const DIR_INGRESS: u8 = 0; export const DIR_EGRESS: u8 = 1;
export const POLICY_ALLOW: u8 = 1; export const POLICY_DENY: u8 = 2;

// Results of the last check (a verdict plus the rule that decided it).
export const CHECK_ALLOWED: i32 = 0;
export const CHECK_DENIED: i32 = 1;   // isolated, nothing allows
export const CHECK_DENY: i32 = 2;     // a deny rule matched
export let checkRule: u32 = 0;

let keyBuf: usize = 0;

/** Endpoint info of an address, unpacked (a struct would allocate; these are plain globals). */
export let infoIdentity: u32 = 0; export let infoEndpoint: u32 = 0;
export let infoNode: u16 = 0; export let infoFlags: u16 = 0;

export function ipcacheResolve(addr: u32): void {
  const v = lpmLookup(ipcache, addr);
  if (v == 0) {
    infoIdentity = IDENTITY_WORLD; infoEndpoint = 0; infoNode = NODE_NONE; infoFlags = 0;
  } else {
    infoIdentity = load<u32>(v); infoEndpoint = load<u32>(v, 4);
    infoNode = load<u16>(v, 8); infoFlags = load<u16>(v, 10);
  }
}

// @ts-ignore: decorator
@inline function probe(ep: u32, identity: u32, port: u16, proto: u8, dir: u8): usize {
  const k = keyBuf; // whole-word stores (see ctWriteKey)
  store<u64>(k, <u64>ep | (<u64>identity << 32));
  store<u64>(k, <u64>port | (<u64>proto << 16) | (<u64>dir << 24), 8);
  return hashLookup(policy, k);
}

/**
 * Verdict of endpoint `ep` (isolated in `dir`) for traffic with `peer` on proto/port.
 * Probe order (most specific first): identity+port, identity+proto, identity,
 * any+port, any+proto, any. The first ALLOW names the rule, unless some DENY matches.
 */
export function policyCheck(ep: u32, peer: u32, dir: u8, proto: u8, port: u16): i32 {
  if (keyBuf == 0) keyBuf = allocAligned(16, 16);
  count(C_POLICY_LOOKUPS);
  let allowRule: u32 = 0; let allowed = false;
  for (let i = 0; i < 6; i++) {
    const id = i < 3 ? peer : 0;
    const j = i % 3;
    const v = probe(ep, id, j == 0 ? port : 0, j == 2 ? 0 : proto, dir);
    if (v == 0) continue;
    if (load<u8>(v, 4) == POLICY_DENY) { checkRule = load<u32>(v); return CHECK_DENY; }
    if (!allowed) { allowed = true; allowRule = load<u32>(v); }
  }
  checkRule = allowRule;
  return allowed ? CHECK_ALLOWED : CHECK_DENIED;
}
