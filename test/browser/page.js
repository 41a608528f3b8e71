// Runs inside Chromium (served by test/browser.test.ts). Loads the compiled ESM
// from /dist/src directly, the core from /build/release.wasm, drives the WASM
// dataplane and the reference backend in lockstep over a synthetic cluster, and
// leaves a JSON-able summary in window.__result for the test to judge.
//
// Only the browser path is imported here: wasm.js (and what it imports),
// reference/dataplane.js, controlplane/synthetic.js, traffic.js, packet.js.
// src/node.ts (which reads the .wasm with node:fs) must never be loaded.

import { WasmDataplane } from '/dist/src/wasm.js';
import { ReferenceDataplane } from '/dist/src/reference/dataplane.js';
import { synthesize, limitsFor, program } from '/dist/src/controlplane/synthetic.js';
import { fillBatch, flowPacket, SYN, ACK } from '/dist/src/traffic.js';
import { PKT, VERDICT_NAMES } from '/dist/src/packet.js';

const FLOWS = 300;
const BIG = 200_000;

/** Index of the first differing byte, -1 if equal, -2 if the lengths differ. */
function firstDiff(a, b) {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function describeDiff(i, a, b) {
  if (i === -1) return null;
  if (i === -2) return { lengths: [a.length, b.length] };
  return { packet: Math.floor(i / PKT.STRIDE), offset: i % PKT.STRIDE, wasm: a[i], reference: b[i] };
}

async function main() {
  const env = {
    process: typeof globalThis.process, require: typeof globalThis.require, Buffer: typeof globalThis.Buffer,
    global: typeof globalThis.global, module: typeof globalThis.module, userAgent: navigator.userAgent,
  };

  // compileStreaming insists on Content-Type: application/wasm, so this also checks the server.
  const module = await WebAssembly.compileStreaming(fetch('/build/release.wasm'));

  const c = synthesize({ services: 20, backends: 3, clients: 8, algo: 'mix', seed: 3 });
  const options = { ...limitsFor(c, 1000), seed: 11 };
  const wasm = await WasmDataplane.create(module, options);
  const ref = new ReferenceDataplane(options);
  program(wasm, c);
  program(ref, c);

  const phases = [];
  const step = (name, wb, rb, n, now, flows, flags) => {
    fillBatch(wb, c, n, flows, flags);
    fillBatch(rb, c, n, flows, flags);
    const inputs = firstDiff(wb.bytes(n), rb.bytes(n));
    const fw = wasm.process(wb, n, now);
    const fr = ref.process(rb, n, now);
    const a = wb.bytes(n), b = rb.bytes(n);
    const diff = firstDiff(a, b);
    const verdicts = { NONE: 0, FORWARDED: 0, DROPPED: 0, REJECTED: 0 };
    for (let k = 0; k < n; k++) verdicts[VERDICT_NAMES[a[k * PKT.STRIDE + PKT.VERDICT]] ?? 'NONE']++;
    const rawW = wasm.rawCounters().map(String), rawR = ref.rawCounters().map(String);
    phases.push({
      name, packets: n, bytesCompared: a.length, inputsEqual: inputs === -1,
      outputsEqual: diff === -1, firstDiff: describeDiff(diff, a, b),
      forwardedReturned: { wasm: fw, reference: fr }, verdicts,
      countersEqual: JSON.stringify(rawW) === JSON.stringify(rawR),
      ctCount: { wasm: wasm.ctCount(), reference: ref.ctCount() },
    });
  };

  // 1-2. New flows (SYN), then the same flows again (ACK).
  const wb1 = wasm.allocBatch(512), rb1 = ref.allocBatch(512);
  step('syn', wb1, rb1, FLOWS, 1000, (k) => k, SYN);
  step('ack', wb1, rb1, FLOWS, 1100, (k) => k, ACK);

  // 3. A batch big enough to grow the core's memory after wb1 was allocated
  //    (and after wb1's views were made on the old ArrayBuffer).
  const snapshot = wb1.bytes(FLOWS).slice();
  const oldBuffer = wasm.core.memory.buffer;
  const bytesBefore = oldBuffer.byteLength;
  const wbBig = wasm.allocBatch(BIG), rbBig = ref.allocBatch(BIG);
  const newBuffer = wasm.core.memory.buffer;
  const growth = {
    bytesBefore, bytesAfter: newBuffer.byteLength, oldBufferDetached: oldBuffer.byteLength === 0,
    firstBatchPtr: wb1.ptr, bigBatchPtr: wbBig.ptr,
    firstBatchSurvived: firstDiff(snapshot, wb1.bytes(FLOWS)) === -1,
    firstBatchOnNewBuffer: wb1.bytes(FLOWS).buffer === newBuffer,
  };
  step('big-ack', wbBig, rbBig, BIG, 1200, (k) => k % FLOWS, ACK);

  // 4. Reuse the first batch after growth.
  step('reuse-after-growth', wb1, rb1, FLOWS, 1300, (k) => k, ACK);

  // 5. Empty service 0 on both backends: new connections to it are REJECTED.
  const vip0 = c.services[0].vip;
  let expectedRejected = 0;
  for (let k = 0; k < FLOWS; k++) if (flowPacket(c, FLOWS + k).daddr === vip0) expectedRejected++;
  for (const dp of [wasm, ref]) dp.setService(0, { algo: c.services[0].algo, backends: [] });
  step('syn-empty-service', wb1, rb1, FLOWS, 1400, (k) => FLOWS + k, SYN);

  return {
    ok: true, env, growth, phases, expectedRejected,
    totalPackets: phases.reduce((a, p) => a + p.packets, 0),
    counters: { wasm: wasm.counters(), reference: ref.counters() },
    rawCounters: { wasm: wasm.rawCounters().map(String), reference: ref.rawCounters().map(String) },
    wasmMemoryBytes: wasm.memoryBytes(),
  };
}

main().then(
  (r) => { window.__result = r; },
  (e) => { window.__result = { ok: false, error: String(e && e.stack ? e.stack : e) }; },
).finally(() => {
  document.getElementById('out').textContent = JSON.stringify(window.__result, null, 2);
});
