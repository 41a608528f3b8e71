// `dpemu bench`: which run the options ask for (the whole suite, one scenario, --compare, --sweep, --growth,
// --micro, --control-plane, --policy, --api), the options each run refuses, and printing its result. The
// runs themselves are the modules beside this one; src/cli.ts only declares the options.

import type { Command } from 'commander';
import type { Design } from '../dataplane.js';
import { UsageError } from '../errors.js';
import { paintErr } from '../style.js';
import { runFastpath, SCENARIOS, Scenario } from './fastpath.js';
import { runCompare, defaultLimitPath } from './compare.js';
import { formatFastpath, formatCompare } from './report.js';
import { runSweep, writeSweep, formatSweep, defaultSweepDir } from './sweep.js';
import { runGrowth, formatGrowth } from './growth.js';
import { runMicro, formatMicro } from './micro.js';
import { runApiBench, formatApiBench } from './api.js';
import { runPolicyBench, formatPolicyBench } from './policy.js';
import { runControlPlane, formatControlPlane, CONTROL_PLANE_DEFAULTS } from './controlplane.js';

export interface BenchOpts {
  scenario: string; services: number; backends: number; flows: number; nodes?: number; backend: 'wasm' | 'reference';
  rounds?: number; packets?: number; batch?: number; repeats?: number; seed: number; json?: boolean; compare?: boolean; limit?: string; quiet?: boolean;
  sweep?: boolean; quick?: boolean; out?: string; design: Design;
  micro?: boolean; controlPlane?: boolean; endpoints?: number; changes?: number; designs?: string;
  policy?: boolean; pods?: number; policies?: number; all?: boolean; growth?: boolean; api?: boolean;
  workers?: number; scaling?: boolean;
}

/** --designs as a list (undefined: every design). */
const designList = (opts: BenchOpts): Design[] | undefined =>
  opts.designs ? opts.designs.split(',').map((d) => d.trim()).filter(Boolean) as Design[] : undefined;

/** --control-plane sizes: the defaults, --quick's small ones, or what was given. */
const controlPlaneSizes = (q: boolean | undefined, given: { services?: number; endpoints?: number; changes?: number } = {}) => ({
  services: given.services ?? (q ? 100 : CONTROL_PLANE_DEFAULTS.services),
  endpoints: given.endpoints ?? (q ? 1000 : CONTROL_PLANE_DEFAULTS.endpoints),
  changes: given.changes ?? (q ? 100 : CONTROL_PLANE_DEFAULTS.changes),
  compiles: q ? 1 : CONTROL_PLANE_DEFAULTS.compiles,
});

/** Options the whole suite (`bench` alone, or `--all`) takes; any other option asks for one run. */
const SUITE_OPTIONS = new Set(['all', 'quick', 'out', 'repeats', 'designs', 'limit', 'json', 'quiet']);

/**
 * The whole suite, what `npm run bench` and a bare `dpemu bench` run: the micro benchmarks of each stage,
 * the control-plane costs, the new-flow growth of each design, then the scenario sweep (every design;
 * writes sweep.json/.csv/.html).
 */
async function benchSuite(opts: BenchOpts, log: ((s: string) => void) | undefined): Promise<void> {
  const q = opts.quick;
  const say = (s: string) => { if (!opts.json) console.log(s); };
  log?.('suite 1/4: micro benchmarks');
  const micro = await runMicro({ quick: q, log });
  say(formatMicro(micro));
  log?.('suite 2/4: control plane');
  const controlPlane = await runControlPlane({ ...controlPlaneSizes(q), log });
  say('\n' + formatControlPlane(controlPlane));
  log?.('suite 3/4: new-flow growth');
  const designs = designList(opts);
  const growth = await runGrowth(q ? { designs, sizes: [10, 100, 1000], flows: 10_000, packets: 1024, rounds: 3, log } : { designs, log });
  say('\n' + formatGrowth(growth));
  log?.('suite 4/4: sweep');
  const sweep = await runSweep({
    backends: opts.backends, repeats: opts.repeats, quick: q, seed: opts.seed, limitPath: opts.limit ?? defaultLimitPath(), log,
    designs: designList(opts),
  });
  const files = writeSweep(sweep, opts.out ?? defaultSweepDir());
  if (opts.json) console.log(JSON.stringify({ micro, control_plane: controlPlane, growth, sweep: { ...sweep, files } }));
  else console.log(`\n${formatSweep(sweep)}\nwrote ${files.json}, ${files.csv}, ${files.html}`);
}

/** Options that only a plain run (one scenario) takes; the other modes set these themselves. */
const SCENARIO_OPTIONS = ['scenario', 'services', 'flows', 'nodes', 'backend', 'rounds', 'packets', 'batch'];

export async function bench(opts: BenchOpts, cmd: Command): Promise<void> {
  if (!(SCENARIOS as readonly string[]).includes(opts.scenario)) {
    throw new UsageError(`unknown scenario ${JSON.stringify(opts.scenario)}; known scenarios: ${SCENARIOS.join(', ')}`);
  }
  const log = opts.quiet ? undefined : (s: string) => process.stderr.write(paintErr('dim', s) + '\n');
  const common = { services: opts.services, backends: opts.backends, flows: opts.flows, nodes: opts.nodes, seed: opts.seed, log };
  if (cmd.getOptionValueSource('design') === 'cli' && (opts.sweep || opts.compare || opts.micro || opts.controlPlane)) throw new UsageError('--design is for one scenario run; --sweep, --compare, --micro and --control-plane choose their own');
  const modes = (['sweep', 'compare', 'micro', 'controlPlane', 'policy', 'growth', 'api', 'scaling'] as const).filter((m) => opts[m]);
  if (modes.length > 1) throw new UsageError(`${modes.map((m) => (m === 'controlPlane' ? '--control-plane' : `--${m}`)).join(' and ')} are different runs; pick one`);
  const given = (o: string) => cmd.getOptionValueSource(o) === 'cli';
  const others = cmd.options.map((o) => o.attributeName()).filter((o) => given(o) && !SUITE_OPTIONS.has(o));
  if (opts.all && others.length > 0) throw new UsageError(`--all runs the whole suite with its own sizes; drop ${others.map((o) => `--${o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ')}`);
  if (opts.all || others.length === 0) return benchSuite(opts, log);
  if (!opts.controlPlane && (given('endpoints') || given('changes'))) throw new UsageError('--endpoints and --changes are only used with --control-plane');
  if (!opts.sweep && !opts.growth && given('designs')) throw new UsageError('--designs is only used with --sweep and --growth');
  if (!opts.policy && (given('pods') || given('policies'))) throw new UsageError('--pods and --policies are only used with --policy');
  if (opts.policy) {
    for (const o of [...SCENARIO_OPTIONS.filter((x) => x !== 'rounds' && x !== 'packets'), 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--policy takes --pods, --policies, --rounds, --packets and --quick; drop --${o}`);
    const q = opts.quick;
    const r = await runPolicyBench({
      pods: opts.pods ?? (q ? 500 : 10_000), policies: opts.policies ?? (q ? 50 : 1_000),
      rounds: opts.rounds ?? (q ? 1 : undefined), packets: opts.packets ?? (q ? 4096 : undefined), seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatPolicyBench(r));
    return;
  }
  if (opts.api) {
    for (const o of ['scenario', 'backend', 'batch', 'repeats', 'limit', 'out', 'quick', 'design', 'designs']) if (given(o)) throw new UsageError(`--api takes --services, --backends, --flows, --packets and --rounds; drop --${o}`);
    const r = await runApiBench({
      services: given('services') ? opts.services : undefined, backends: given('backends') ? opts.backends : undefined,
      flows: given('flows') ? opts.flows : undefined, packets: opts.packets, rounds: opts.rounds, seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatApiBench(r));
    return;
  }
  if (!opts.scaling && given('workers') && modes.length > 0) throw new UsageError('--workers is for one scenario run and --scaling');
  if (opts.scaling) {
    for (const o of ['scenario', 'backend', 'repeats', 'limit', 'out', 'quick', 'designs']) if (given(o)) throw new UsageError(`--scaling runs fastpath and newflow on the wasm backend; drop --${o}`);
    const { runScaling, formatScaling } = await import('./scaling.js');
    const r = await runScaling({
      workers: opts.workers ?? 2, nodes: opts.nodes, services: opts.services, backends: opts.backends, flows: opts.flows, rounds: opts.rounds,
      packets: opts.packets, batch: opts.batch, seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatScaling(r));
    return;
  }
  if (opts.growth) {
    for (const o of ['scenario', 'services', 'backend', 'batch', 'repeats', 'limit', 'out', 'quick']) if (given(o)) throw new UsageError(`--growth takes --designs, --backends, --flows, --packets and --rounds; drop --${o}`);
    const r = await runGrowth({
      designs: designList(opts),
      backends: opts.backends, flows: given('flows') ? opts.flows : undefined, packets: opts.packets, rounds: opts.rounds, seed: opts.seed, log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatGrowth(r));
    return;
  }
  if (opts.micro) {
    for (const o of [...SCENARIO_OPTIONS, 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--micro sets its own sizes; drop --${o}`);
    const r = await runMicro({ quick: opts.quick, log });
    console.log(opts.json ? JSON.stringify(r) : formatMicro(r));
    return;
  }
  if (opts.controlPlane) {
    for (const o of ['scenario', 'flows', 'backend', 'rounds', 'packets', 'batch', 'backends', 'repeats', 'limit', 'out']) if (given(o)) throw new UsageError(`--control-plane takes --services, --endpoints, --changes and --quick; drop --${o}`);
    const q = opts.quick;
    const r = await runControlPlane({
      ...controlPlaneSizes(q, { services: given('services') ? opts.services : undefined, endpoints: opts.endpoints, changes: opts.changes }), log,
    });
    console.log(opts.json ? JSON.stringify(r) : formatControlPlane(r));
    return;
  }
  if (opts.sweep) {
    if (opts.compare) throw new UsageError('--sweep and --compare are different runs; pick one');
    for (const o of SCENARIO_OPTIONS) {
      if (cmd.getOptionValueSource(o) === 'cli') throw new UsageError(`--sweep sets --${o} itself (every scenario, services 100..100000, flows 10000..1000000; --quick: a tiny sweep); drop --${o}`);
    }
    const r = await runSweep({
      backends: opts.backends, repeats: opts.repeats, quick: opts.quick, seed: opts.seed, limitPath: opts.limit ?? defaultLimitPath(), log,
      designs: designList(opts),
    });
    const files = writeSweep(r, opts.out ?? defaultSweepDir());
    if (opts.json) console.log(JSON.stringify({ ...r, files }));
    else console.log(`${formatSweep(r)}\nwrote ${files.json}, ${files.csv}, ${files.html}`);
    return;
  }
  if (opts.quick || cmd.getOptionValueSource('out') === 'cli') throw new UsageError('--quick is only used with --sweep, --micro and --control-plane; --out with --sweep');
  if (opts.compare) {
    if (opts.scenario !== 'fastpath') throw new UsageError('--compare holds the fastpath scenario against the machine limit; drop --scenario');
    if (cmd.getOptionValueSource('backend') === 'cli') throw new UsageError('--compare runs both backends (wasm, then reference); drop --backend');
    if (cmd.getOptionValueSource('packets') === 'cli') throw new UsageError('--compare uses each backend\'s own batch size; drop --packets');
    const r = await runCompare({ ...common, rounds: opts.rounds, repeats: opts.repeats, limitPath: opts.limit ?? defaultLimitPath() });
    console.log(opts.json ? JSON.stringify(r) : formatCompare(r));
    return;
  }
  if (cmd.getOptionValueSource('limit') === 'cli') throw new UsageError('--limit is only used with --compare');
  const r = await runFastpath({ ...common, scenario: opts.scenario as Scenario, design: opts.design, backend: opts.backend, rounds: opts.rounds, packets: opts.packets, batch: opts.batch, workers: opts.workers });
  console.log(opts.json ? JSON.stringify(r) : formatFastpath(r));
}
