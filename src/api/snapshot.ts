// Snapshots: an emulator's whole state as bytes (Emulator.snapshot / restoreEmulator).
//
// What is kept: the options, the control-plane log (every apply and delete that took effect, in order),
// the clock, and the dataplane's state (the wasm core's linear memory and mutable globals, or the
// reference's encoded maps). A restore builds a fresh emulator with the same options, replays the log
// (which rebuilds the host's bookkeeping exactly: stable ids, slot regions, the iptables rule list), then
// puts the dataplane state and the clock back: from then on it gives the original's records byte for byte.
//
// Layout (little-endian):
//   "DPEMUSNP" | u32 format | u32 header length H | H bytes of JSON header (UTF-8)
//   wasm only: u32 memory size | u32 chunk count C | C x (u32 chunk index | MEMORY_CHUNK bytes) — chunks
//              of zeros are left out (most of a fresh map is zeros)
//   u32 checksum of everything before it (FNV-1a over little-endian 32-bit words, then the tail bytes)
// The header names the dpemu version and the core's build id: a snapshot of another version, another
// core, or with a wrong checksum is refused with a SnapshotError.

import { DataplaneState, MEMORY_CHUNK as CHUNK } from '../dataplane.js';
import type { ClusterChange } from '../k8s/runtime.js';
import type { EmulatorOptions, Limits } from './types.js';
import { SnapshotError } from '../errors.js';
import { VERSION } from '../version.js';

/** A change the emulator took, as its log keeps it (snapshots replay the log). */
export type ControlEntry = ClusterChange;

export interface SnapshotContent {
  backend: 'wasm' | 'reference';
  buildId: number | null;
  options: Omit<EmulatorOptions, 'wasm' | 'cluster'> & { limits: Limits };
  log: ControlEntry[];
  clock: { t: number; gcMs: number };
  sequence: number;
  state: DataplaneState;
  /** The north-south weighted choice's draw state for the current cluster (absent: never drawn from). */
  httpDraw?: number;
}

const MAGIC = 'DPEMUSNP';
const FORMAT = 1;

/** FNV-1a over the 32-bit words of bytes[0, end) (then the tail bytes): a damage check, four times faster than per byte. */
function checksum(bytes: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  const words = end >>> 2;
  const aligned = bytes.byteOffset % 4 === 0;
  const w = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, words) : undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words; i++) h = Math.imul(h ^ (w ? w[i] : v.getUint32(i * 4, true)), 0x01000193);
  for (let i = words * 4; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

export function encodeSnapshot(c: SnapshotContent): Uint8Array {
  const { state, ...rest } = c;
  const header = {
    dpemu: VERSION, ...rest,
    state: state.kind === 'wasm'
      ? { kind: 'wasm', globals: state.globals.map((g) => (typeof g === 'bigint' ? { i64: g.toString() } : g)), origin: state.origin }
      : state,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const mem = state.kind === 'wasm' ? state.memory : undefined;
  let size = 8 + 4 + 4 + json.length + 4;
  if (mem) size += 8 + mem.chunks.length * (4 + CHUNK);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let o = 0;
  for (let i = 0; i < MAGIC.length; i++) out[o++] = MAGIC.charCodeAt(i);
  v.setUint32(o, FORMAT, true); o += 4;
  v.setUint32(o, json.length, true); o += 4;
  out.set(json, o); o += json.length;
  if (mem) {
    v.setUint32(o, mem.size, true); o += 4;
    v.setUint32(o, mem.chunks.length, true); o += 4;
    for (const c of mem.chunks) {
      v.setUint32(o, c.index, true); o += 4;
      out.set(c.bytes, o); o += CHUNK;
    }
  }
  v.setUint32(o, checksum(out, o), true);
  return out;
}

export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError('snapshot: expected the Uint8Array that snapshot() returned');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number, at: number) => { if (at + n > bytes.length) throw new SnapshotError('snapshot: truncated (it ends early)'); };
  need(20, 0);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) throw new SnapshotError('snapshot: not a dpemu snapshot (wrong magic)');
  if (v.getUint32(bytes.length - 4, true) !== checksum(bytes, bytes.length - 4)) throw new SnapshotError('snapshot: damaged (checksum mismatch)');
  let o = 8;
  const format = v.getUint32(o, true); o += 4;
  if (format !== FORMAT) throw new SnapshotError(`snapshot: format ${format}, this dpemu reads format ${FORMAT}`);
  const len = v.getUint32(o, true); o += 4;
  need(len, o);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(o, o + len)));
  } catch {
    throw new SnapshotError('snapshot: damaged header');
  }
  o += len;
  if (header.dpemu !== VERSION) throw new SnapshotError(`snapshot: made by dpemu ${String(header.dpemu)}; this is dpemu ${VERSION}`);
  const st = header.state as { kind: string; globals?: (number | { i64: string })[]; origin?: number; fields?: Record<string, unknown> };
  let state: DataplaneState;
  if (st.kind === 'wasm') {
    need(8, o);
    const size = v.getUint32(o, true); o += 4;
    const count = v.getUint32(o, true); o += 4;
    const chunks: { index: number; bytes: Uint8Array }[] = [];
    for (let k = 0; k < count; k++) {
      need(4 + CHUNK, o);
      const index = v.getUint32(o, true); o += 4;
      if ((index + 1) * CHUNK > size) throw new SnapshotError('snapshot: damaged memory chunk');
      chunks.push({ index, bytes: bytes.subarray(o, o + CHUNK) }); o += CHUNK;
    }
    state = { kind: 'wasm', memory: { size, chunks }, globals: (st.globals ?? []).map((g) => (typeof g === 'object' ? BigInt(g.i64) : g)), origin: st.origin ?? 0 };
  } else {
    state = { kind: 'reference', fields: st.fields ?? {} };
  }
  if (o !== bytes.length - 4) throw new SnapshotError('snapshot: damaged (unexpected length)');
  return { ...(header as unknown as SnapshotContent), state };
}
