// The fastpath scenario of `bench --scaling` on one or two workers, rounds back to back, for a profiler: prints the
// median and the monotonic clock (process.hrtime, seconds) before and after the rounds, so that `perf report --time`
// counts only them (docs/design/per-node-and-workers.md, "Fourth pass"):
//
//   perf record -k CLOCK_MONOTONIC -e cpu-clock -F 4000 -o perf.data -- \
//     node --perf-basic-prof --import tsx bench/workers-profile.ts 2 [--rounds 100] [--scenario fastpath|newflow]
//   perf report -i perf.data --time START,END --sort pid,sym --stdio
//
// V8 names compiled WebAssembly functions `wasm-function[N]`: N counts the functions in build/shared.wat's order.
import { parseArgs } from 'node:util';
import { prepareScenario } from '../src/bench/fastpath.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { scenario: { type: 'string', default: 'fastpath' }, rounds: { type: 'string', default: '100' }, flows: { type: 'string', default: '1000000' } },
});
const workers = Number(positionals[0] ?? 2);
const scenario = values.scenario as 'fastpath' | 'newflow';
const packets = scenario === 'newflow' ? 1 << 16 : 1 << 18;
const s = await prepareScenario({ scenario, nodes: 2, shards: 2, workers, rounds: Number(values.rounds), packets, flows: Number(values.flows) });
const clock = () => { const t = process.hrtime.bigint(); return `${t / 1_000_000_000n}.${String(t % 1_000_000_000n).padStart(9, '0')}`; };
try {
  const start = clock();
  const ms: number[] = [];
  for (let r = 0; r < s.rounds; r++) ms.push(s.round(r));
  const end = clock();
  ms.sort((a, b) => a - b);
  console.log(`${scenario}, ${workers} worker(s): median ${(packets / ms[ms.length >> 1] / 1e3).toFixed(2)} Mpps over ${s.rounds} rounds`);
  console.log(`rounds: --time ${start},${end}`);
} finally {
  await s.close();
}
