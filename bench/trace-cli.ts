// `npx tsx bench/trace-cli.ts [LINES] [--rounds N]`: `dpemu trace` end to end, as a user runs it
// (`node dist/src/cli.js trace --cluster cluster.yaml < lines.jsonl > out.jsonl`; build first), against a Node
// script that reads the same file with readline and writes JSON.stringify(JSON.parse(line)) per line.
// The cluster: 1,000 ClusterIP Services of 10 endpoints on 3 nodes (as `bench --api`); the lines: one SYN per
// flow (LINES / 5 flows), then ACKs of flows drawn at random. Each round runs, in turn, trace over one line
// (start-up and loading the cluster), trace over every line, and the JSON loop; medians of the rounds.
// Not a test: figures go to bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { controlPlaneObjects } from '../src/bench/controlplane.js';
import { createEmulator } from '../src/index.node.js';
import { Prng } from '../src/common/prng.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--rounds');
const rounds = ri >= 0 ? Number(args[ri + 1]) : 5;
const lines = Number(args.find((a, i) => !a.startsWith('-') && i !== ri + 1) ?? 200_000);
if (![rounds, lines].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error('usage: tsx bench/trace-cli.ts [LINES] [--rounds N]  (positive integers)');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'dpemu-trace-cli-'));
const objs = controlPlaneObjects(1000, 10_000, 3);
const cluster = [...objs.nodes, ...objs.services, ...objs.slices];
writeFileSync(join(dir, 'cluster.yaml'), cluster.map((o) => JSON.stringify(o)).join('\n---\n') + '\n');
const emu = await createEmulator({ cluster: cluster as Record<string, unknown>[] });
const vips = emu.services().map((s) => s.frontends[0].address.split(':')[0]);
const flows = Math.max(1, Math.floor(lines / 5));
const flow = (f: number, flags: string) => JSON.stringify({
  src: `10.200.${(f >> 8) & 255}.${f & 255}`, dst: vips[f % vips.length], sport: 10000 + (f >> 16), dport: 80, flags, node: `node-${String(f % 3).padStart(4, '0')}`, t: 1,
});
const prng = new Prng(1);
const text: string[] = [];
for (let i = 0; i < lines; i++) text.push(i < flows ? flow(i, 'S') : flow(prng.next() % flows, 'A'));
writeFileSync(join(dir, 'lines.jsonl'), text.join('\n') + '\n');
writeFileSync(join(dir, 'one.jsonl'), text[0] + '\n');
writeFileSync(join(dir, 'json.cjs'), `const rl = require('readline').createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (l) => { process.stdout.write(JSON.stringify(JSON.parse(l)) + '\\n'); });\n`);

const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
const run = (argv: string[], input: string): number => {
  const i = openSync(join(dir, input), 'r'), o = openSync(join(dir, 'out.jsonl'), 'w');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { stdio: [i, o, 'inherit'] });
  const s = (performance.now() - t0) / 1000;
  closeSync(i); closeSync(o);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return s;
};
const got = { setup: [] as number[], trace: [] as number[], json: [] as number[], load: [] as number[] };
for (let r = 1; r <= rounds; r++) {
  got.load.push(loadavg()[0]);
  got.setup.push(run([cli, 'trace', '--cluster', join(dir, 'cluster.yaml')], 'one.jsonl'));
  got.trace.push(run([cli, 'trace', '--cluster', join(dir, 'cluster.yaml')], 'lines.jsonl'));
  got.json.push(run([join(dir, 'json.cjs')], 'lines.jsonl'));
  console.log(`round ${r}/${rounds} (load ${got.load.at(-1)!.toFixed(2)}): trace of one line ${got.setup.at(-1)!.toFixed(2)} s, of ${lines} lines ${got.trace.at(-1)!.toFixed(2)} s; JSON loop ${got.json.at(-1)!.toFixed(2)} s`);
}
rmSync(dir, { recursive: true });
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
const setup = median(got.setup), trace = median(got.trace), json = median(got.json);
const f = (x: number) => x.toFixed(2);
console.log(`medians: trace ${f(trace)} s (of which start-up and cluster ${f(setup)} s), JSON loop ${f(json)} s`);
console.log(`  whole run: ${f(json / trace)}x the JSON loop's rate; records after start-up: ${f(json / (trace - setup))}x`);
