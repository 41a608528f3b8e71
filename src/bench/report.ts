// Human-readable summaries of benchmark results (the CLI and bench/fastpath.ts print these).

import type { FastpathResult } from './fastpath.js';
import type { CompareResult } from './compare.js';

const n = (x: number) => x.toLocaleString('en-US');

export function formatFastpath(r: FastpathResult): string {
  const lines = [
    `fastpath on ${r.backend}: ${n(r.services)} services x ${n(r.backends)} backends, ${n(r.flows)} established TCP flows`,
    `  measured   ${n(r.rounds)} rounds x ${n(r.packets)} packets = ${n(r.measured_packets)} packets (uniform over flows, ACK)`,
    `  fast path  ${r.mpps} Mpps median (min ${r.mpps_min}, max ${r.mpps_max}), ${r.ns_per_packet} ns/packet`,
    `  new flows  ${r.warm_mpps} Mpps (warm-up: ${n(r.warm_packets)} SYNs)`,
  ];
  if (r.bytes_per_flow !== undefined) {
    lines.push(`  memory     ${r.bytes_per_flow} bytes/flow for the maps (limits sized for ${n(r.flows)} flows); ${(r.memory_bytes! / 2 ** 20).toFixed(0)} MiB linear memory in use`);
  }
  lines.push(`  rounds ms  ${r.round_ms.join(' ')}  (load average ${r.loadavg})`);
  return lines.join('\n');
}

export function formatCompare(c: CompareResult): string {
  const out: string[] = [];
  const l = c.limit;
  if (l.status === 'ok') {
    out.push(`limit (${l.path}, ${n(c.flows)} flows): wasm32 ${l.wasm!.fast_mpps} Mpps` +
      (l.native ? `, native ${l.native.fast_mpps} Mpps` : '') + ' (fast path)');
    if (c.services !== 10_000 || c.backends !== 10) out.push(`  note: the limit always uses 10,000 services x 10 backends`);
  } else if (l.status === 'absent') {
    out.push(`limit: ${l.path} not found, skipped`);
  } else {
    out.push(`limit: FAILED: ${l.error}`);
  }
  if (c.repeats > 1) {
    out.push(`  ${c.repeats} interleaved runs each (medians compared): limit wasm32 [${c.runs.limit_wasm_mpps.join(', ')}], ` +
      `dpemu wasm [${c.runs.wasm_mpps.join(', ')}], reference [${c.runs.reference_mpps.join(', ')}] Mpps`);
  }
  out.push('', formatFastpath(c.wasm), '', formatFastpath(c.reference), '');
  out.push('targets:');
  for (const t of c.targets) {
    const verdict = t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL';
    out.push(`  ${verdict}  ${t.name.padEnd(16)} ${t.value === null ? '-' : t.value.toFixed(3).padStart(8)}  (target >= ${t.target})`);
  }
  if (c.wasm_vs_limit_native !== null) out.push(`  info  wasm/limit_native ${c.wasm_vs_limit_native.toFixed(3).padStart(8)}`);
  out.push(c.pass ? 'all targets met' : 'some targets missed');
  return out.join('\n');
}
