// Drive the WASM core and the reference backend in lockstep and fail on the
// first packet whose output record differs, showing both records.
import { expect } from 'vitest';
import { createDataplane, BackendKind } from '../../src/node.js';
import type { Dataplane, Options } from '../../src/dataplane.js';
import { PacketBatch, PacketIn, PacketRecord, PKT } from '../../src/packet.js';

export interface Pair { wasm: Dataplane; ref: Dataplane; wb: PacketBatch; rb: PacketBatch }

export async function pair(options: Options, batchSize = 64, wasmKind: BackendKind = 'wasm'): Promise<Pair> {
  const wasm = await createDataplane(wasmKind, options);
  const ref = await createDataplane('reference', options);
  return { wasm, ref, wb: wasm.allocBatch(batchSize), rb: ref.allocBatch(batchSize) };
}

/** Apply the same control-plane change to both. */
export function both(p: Pair, f: (dp: Dataplane) => void): void { f(p.wasm); f(p.ref); }

/** Process packets through both; returns the reference's records (identical to the core's, or the test fails). */
export function step(p: Pair, packets: PacketIn[], now: number, context = ''): PacketRecord[] {
  packets.forEach((pk, i) => { p.wb.set(i, pk); p.rb.set(i, pk); });
  const fw = p.wasm.process(p.wb, packets.length, now);
  const fr = p.ref.process(p.rb, packets.length, now);
  const out: PacketRecord[] = [];
  for (let i = 0; i < packets.length; i++) {
    const a = p.wb.get(i), b = p.rb.get(i);
    if (!bytesEqual(p.wb.bytes(packets.length).subarray(i * PKT.STRIDE, (i + 1) * PKT.STRIDE), p.rb.bytes(packets.length).subarray(i * PKT.STRIDE, (i + 1) * PKT.STRIDE))) {
      expect({ where: `${context} packet ${i} at t=${now}`, ...a }).toEqual({ where: `${context} packet ${i} at t=${now}`, ...b });
    }
    out.push(b);
  }
  expect(fw).toBe(fr);
  return out;
}

export function sameState(p: Pair, now: number): void {
  expect(p.wasm.rawCounters()).toEqual(p.ref.rawCounters());
  expect(p.wasm.ctCount()).toBe(p.ref.ctCount());
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
