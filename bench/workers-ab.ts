// Two builds of dpemu, one worker and two each, measured in one process with their rounds taking turns: how a
// change to the core moves the worker mode, on a machine whose noise moves separate runs more than the change.
//
//   node --import tsx bench/workers-ab.ts DIR_A DIR_B [--scenario fastpath|newflow] [--flows N] [--rounds R]
//
// DIR_A and DIR_B are checkouts with their builds made (`npm run build`: dist/ and build/), e.g. a git worktree of
// the commit before and this one. Prints each build's medians, its two-worker ratio, B over A for one worker and
// for two, and the cores' distance while it ran (src/bench/core-latency.ts).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { scenario: { type: 'string', default: 'fastpath' }, flows: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '31' } },
});
if (positionals.length !== 2) {
  console.error('usage: node --import tsx bench/workers-ab.ts DIR_A DIR_B [--scenario fastpath|newflow] [--flows N] [--rounds R]');
  process.exit(2);
}
type Fastpath = typeof import('../src/bench/fastpath.js');
const load = (dir: string, file: string) => import(pathToFileURL(resolve(dir, 'dist/src/bench', file)).href);
const [a, b]: Fastpath[] = await Promise.all(positionals.map((d) => load(d, 'fastpath.js')));
const { startCoreProbe } = await load(positionals[1], 'core-latency.js') as typeof import('../src/bench/core-latency.js');

const scenario = values.scenario as 'fastpath' | 'newflow';
const rounds = Number(values.rounds);
const config = { scenario, nodes: 2, shards: 2, rounds, packets: scenario === 'newflow' ? 1 << 16 : 1 << 18, flows: Number(values.flows) };
const probe = await startCoreProbe();
const sides = [await a.prepareScenario({ ...config, workers: 1 }), await a.prepareScenario({ ...config, workers: 2 }),
  await b.prepareScenario({ ...config, workers: 1 }), await b.prepareScenario({ ...config, workers: 2 })];
try {
  const trips: number[] = [];
  const measured = sides.map((s, i) => i === 3 ? { rounds: s.rounds, round: (r: number) => { trips.push(probe.roundTripNs()); return s.round(r); } } : s);
  const ms = a.takeTurns(measured);
  const [a1, a2, b1, b2] = sides.map((s, i) => s.finish(ms[i]).mpps);
  trips.sort((x, y) => x - y);
  const f = (x: number) => x.toFixed(2);
  console.log(`${new Date().toISOString().slice(11, 19)} UTC  A: 1 worker ${a1} Mpps, 2 workers ${a2} (${f(a2 / a1)}x)   `
    + `B: 1 worker ${b1}, 2 workers ${b2} (${f(b2 / b1)}x)   B/A: 1 worker ${(b1 / a1).toFixed(3)}, 2 workers ${(b2 / a2).toFixed(3)}   `
    + `cores ${Math.round(trips[trips.length >> 1])} ns apart`);
} finally {
  for (const s of sides) await s.close();
  await probe.close();
}
