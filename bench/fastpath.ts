// `npx tsx bench/fastpath.ts [FLOWS] [--json]`: the fastpath comparison (limit, then
// wasm, then reference, one after the other), as `dpemu bench --compare` does it.
import { runCompare } from '../src/bench/compare.js';
import { formatCompare } from '../src/bench/report.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const flowsArg = args.find((a) => !a.startsWith('-'));
const flows = flowsArg === undefined ? 1_000_000 : Number(flowsArg.replace(/_/g, ''));
if (!Number.isInteger(flows) || flows < 1) {
  console.error(`usage: tsx bench/fastpath.ts [FLOWS] [--json]  (FLOWS: a positive integer, not ${JSON.stringify(flowsArg)})`);
  process.exit(2);
}
const result = await runCompare({ services: 10_000, backends: 10, flows, log: (s) => process.stderr.write(s + '\n') });
console.log(json ? JSON.stringify(result) : formatCompare(result));
