// Identities and policy verdicts, as Cilium's ipcache + per-endpoint policy map.
//
// The ipcache value, the policy value and the policyLengths entries are laid out in records.ts.
// An address no prefix covers is the reserved identity WORLD, with no subject.
// Pods that share an identity and named ports share one subject (one compiled
// policy); the host compiler (src/policy/compile.ts) writes the entries.
//
// policy key (16 bytes):
//   +0  subject u32
//   +4  peer identity u32      (0: any identity)
//   +8  port u16               (first port of an aligned block of 2^(16-plen) ports; 0 when plen = 0)
//   +10 proto u8               (0: any protocol; then port = 0 and plen = 0)
//   +11 direction u8           (DIR_INGRESS / DIR_EGRESS)
//   +12 port prefix length u8  (0..16: the block's high `plen` bits are fixed)
//   +13 zero (3 bytes)
//
// The tiers (AdminNetworkPolicy, NetworkPolicy, Baseline) are resolved by the
// compiler: every entry carries the final verdict of the points it covers, and
// the most specific entry decides. Lookup order for (subject, dir, peer, proto, port):
//   1. peer identity: proto + port block, for each block length in use (longest first); then any protocol
//   2. any identity:  the same
//   3. nothing: POLICY_DENIED (the compiler always writes a catch-all (any, any) entry for an enforced
//      subject, its default verdict for the direction; this is only a safety net)
// Which block lengths are in use is kept per (subject, direction, layer) in a second map, maintained
// on every insert and delete, so a lookup probes only lengths that exist there: a subject whose
// rules name single ports costs about 4 probes per direction, and never more than 2 x 18, whatever
// the number of policies (the lpm.ts bitmap idea, per subject).
//
// An endpoint without IPC_ENFORCE_<dir> allows everything in that direction, with no lookup.

import { ipcache, policy, policyLengths } from "./tables";
import { lpmLookup } from "./maps/lpm";
import { hashLookup, hashUpdate, hashDelete, hashCount, hashMaxEntries } from "./maps/hash";
import { MAP_OK, MAP_E2BIG } from "./maps/common";
import { allocAligned } from "./alloc";
import { count, C_POLICY_LOOKUPS } from "./counters";
import { NODE_NONE } from "./packet";
import { X_IDENTITY, X_SUBJECT, X_NODE, X_FLAGS, PV_RULE, PV_VERDICT, POLICY_KEY_SIZE, POLICY_VALUE_SIZE, LENGTHS_KEY_SIZE,
  LENGTHS_VALUE_SIZE, L_BITMAP, L_COUNTS, L_LAYER_COUNTS, PK_PORT_WORD } from "./records";

export const IDENTITY_HOST: u32 = 1;   // reserved:host
export const IDENTITY_WORLD: u32 = 2;  // reserved:world
export const IPC_POD: u16 = 1; export const IPC_HOST: u16 = 2;
export const IPC_ENFORCE_INGRESS: u16 = 4; export const IPC_ENFORCE_EGRESS: u16 = 8;
export const DIR_INGRESS: u8 = 0; export const DIR_EGRESS: u8 = 1;
/** Entry verdicts: allowed by a rule; denied by a rule (DROP_POLICY_DENY); isolated and no rule allows (DROP_POLICY_DENIED). */
export const POLICY_ALLOW: u8 = 1; export const POLICY_DENY: u8 = 2; export const POLICY_DENIED: u8 = 3;

// Results of the last check (a verdict plus the rule that decided it).
export const CHECK_ALLOWED: i32 = 0;
export const CHECK_DENIED: i32 = 1;   // isolated, nothing allows
export const CHECK_DENY: i32 = 2;     // a deny rule matched
export let checkRule: u32 = 0;

let keyBuf: usize = 0;
let lenKeyBuf: usize = 0;
let lenValueBuf: usize = 0;
const ANY_PROTO_BIT: u32 = 17;

/** Endpoint info of an address, unpacked (a struct would allocate; these are plain globals). */
export let infoIdentity: u32 = 0; export let infoEndpoint: u32 = 0;
export let infoNode: u16 = 0; export let infoFlags: u16 = 0;

export function ipcacheResolve(addr: u32): void {
  const v = lpmLookup(ipcache, addr);
  if (v == 0) {
    infoIdentity = IDENTITY_WORLD; infoEndpoint = 0; infoNode = NODE_NONE; infoFlags = 0;
  } else {
    infoIdentity = load<u32>(v, X_IDENTITY); infoEndpoint = load<u32>(v, X_SUBJECT);
    infoNode = load<u16>(v, X_NODE); infoFlags = load<u16>(v, X_FLAGS);
  }
}

/** Write an ipcache value (the host's ipcacheUpsert). */
export function ipcacheWrite(v: usize, identity: u32, subject: u32, node: u16, flags: u16): void {
  store<u32>(v, identity, X_IDENTITY); store<u32>(v, subject, X_SUBJECT); store<u16>(v, node, X_NODE); store<u16>(v, flags, X_FLAGS);
}

/** This instance's scratch buffers, made now (index.ts workerAttach: each worker its own, in its own region). */
export function policyScratchInit(): void { keyBuf = 0; valueBuf = 0; keyBuffer(); valueBuffer(); }

function keyBuffer(): usize {
  if (keyBuf == 0) {
    keyBuf = allocAligned(POLICY_KEY_SIZE, 16);
    lenKeyBuf = allocAligned(LENGTHS_KEY_SIZE, 8);
    lenValueBuf = allocAligned(LENGTHS_VALUE_SIZE, 16);
  }
  return keyBuf;
}

// @ts-ignore: decorator
@inline function writeKey(k: usize, subject: u32, identity: u32, port: u32, proto: u32, dir: u32, plen: u32): void {
  // whole-word stores (see ctWriteKey)
  store<u64>(k, <u64>subject | (<u64>identity << 32));
  store<u64>(k, <u64>port | (<u64>proto << 16) | (<u64>dir << 24) | (<u64>plen << 32), PK_PORT_WORD);
}

// @ts-ignore: decorator
@inline function portMask(plen: u32): u32 { return (0xffff << (16 - plen)) & 0xffff; }

/** The first entry matching in one identity layer (`lengths`: its bitmap), or 0. */
// @ts-ignore: decorator
@inline function probeLayer(k: usize, subject: u32, identity: u32, dir: u8, proto: u8, port: u16, lengths: u32): usize {
  let blocks = lengths & ~(<u32>1 << ANY_PROTO_BIT);
  while (blocks != 0) {
    const plen = <u32>(31 - clz<u32>(blocks));
    writeKey(k, subject, identity, <u32>port & portMask(plen), <u32>proto, <u32>dir, plen);
    const v = hashLookup(policy, k);
    if (v != 0) return v;
    blocks &= ~(<u32>1 << plen);
  }
  if ((lengths & (<u32>1 << ANY_PROTO_BIT)) == 0) return 0;
  writeKey(k, subject, identity, 0, 0, <u32>dir, 0);
  return hashLookup(policy, k);
}

// @ts-ignore: decorator
@inline function lengthsOf(subject: u32, dir: u32): usize {
  store<u64>(lenKeyBuf, <u64>subject | (<u64>dir << 32));
  return hashLookup(policyLengths, lenKeyBuf);
}

/**
 * Verdict of subject `subject` (enforced in `dir`) for traffic with `peer` on proto/port:
 * the most specific entry (peer before any identity; protocol and longer port block first).
 */
export function policyCheck(subject: u32, peer: u32, dir: u8, proto: u8, port: u16): i32 {
  const k = keyBuffer();
  count(C_POLICY_LOOKUPS);
  const lens = lengthsOf(subject, <u32>dir);
  let v: usize = 0;
  if (lens != 0) {
    if (peer != 0) v = probeLayer(k, subject, peer, dir, proto, port, load<u32>(lens, L_BITMAP));
    if (v == 0) v = probeLayer(k, subject, 0, dir, proto, port, load<u32>(lens, L_BITMAP + 4));
  }
  if (v == 0) { checkRule = 0; return CHECK_DENIED; }
  checkRule = load<u32>(v, PV_RULE);
  const verdict = load<u8>(v, PV_VERDICT);
  return verdict == POLICY_ALLOW ? CHECK_ALLOWED : verdict == POLICY_DENY ? CHECK_DENY : CHECK_DENIED;
}

// ---- control plane (host calls, never per packet) -------------------------

const E_INVAL: i32 = -22;

/** Count an entry in or out of its (subject, dir) bitmaps. False when the lengths map is full. */
function countLength(subject: u32, dir: u32, identity: u32, proto: u32, plen: u32, delta: i32): bool {
  const bit = proto == 0 ? ANY_PROTO_BIT : plen;
  const layer: usize = identity != 0 ? 0 : 1;
  let v = lengthsOf(subject, dir);
  if (v == 0) {
    if (delta < 0) return true;
    memory.fill(lenValueBuf, 0, LENGTHS_VALUE_SIZE);
    if (hashUpdate(policyLengths, lenKeyBuf, lenValueBuf) != MAP_OK) return false;
    v = lengthsOf(subject, dir);
  }
  const c = v + L_COUNTS + layer * L_LAYER_COUNTS + (<usize>bit << 1);
  if (delta > 0 && load<u16>(c) == 0xffff) return false; // 65535 entries of one block length in one layer
  const n = <u32>(<i32>load<u16>(c) + delta);
  store<u16>(c, <u16>n);
  const b = v + L_BITMAP + (layer << 2);
  if (n == 0) store<u32>(b, load<u32>(b) & ~(<u32>1 << bit)); else store<u32>(b, load<u32>(b) | (<u32>1 << bit));
  if (load<u64>(v) == 0) hashDelete(policyLengths, lenKeyBuf); // no entry left for (subject, dir)
  return true;
}

/** Insert or overwrite an entry. MAP_OK, E2BIG (full) or EINVAL (bad fields: the host checks them first). */
export function policyUpsert(subject: u32, identity: u32, port: u32, proto: u32, dir: u32, plen: u32, rule: u32, verdict: u32): i32 {
  if (dir > 1 || verdict < 1 || verdict > 3 || plen > 16 || proto > 255 || port > 0xffff) return E_INVAL;
  if ((port & ~portMask(plen)) != 0 || (proto == 0 && (port != 0 || plen != 0))) return E_INVAL;
  const k = keyBuffer();
  writeKey(k, subject, identity, port, proto, dir, plen);
  const existed = hashLookup(policy, k) != 0;
  if (!existed && hashCount(policy) >= hashMaxEntries(policy)) return MAP_E2BIG;
  if (!existed && !countLength(subject, dir, identity, proto, plen, 1)) return MAP_E2BIG;
  const val = valueBuffer();
  store<u32>(val, rule, PV_RULE); store<u32>(val, verdict, PV_VERDICT); // the verdict u8 and its zero padding
  writeKey(k, subject, identity, port, proto, dir, plen);
  return hashUpdate(policy, k, val);
}

let valueBuf: usize = 0;
function valueBuffer(): usize { if (valueBuf == 0) valueBuf = allocAligned(POLICY_VALUE_SIZE, 8); return valueBuf; }

export function policyDelete(subject: u32, identity: u32, port: u32, proto: u32, dir: u32, plen: u32): bool {
  if (plen > 16 || dir > 1) return false;
  const k = keyBuffer();
  writeKey(k, subject, identity, port, proto, dir, plen);
  if (!hashDelete(policy, k)) return false;
  countLength(subject, dir, identity, proto, plen, -1);
  return true;
}
