// `npx tsx bench/policy.ts [PODS] [POLICIES] [--json]`: compile time, map entries and per-packet cost
// of 1,000 policies over 10,000 pods, against the same cluster without policies (src/bench/policy.ts).
import { runPolicyBench, formatPolicyBench } from '../src/bench/policy.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const nums = args.filter((a) => !a.startsWith('-')).map((a) => Number(a.replace(/_/g, '')));
if (nums.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error('usage: tsx bench/policy.ts [PODS] [POLICIES] [--json]  (positive integers)');
  process.exit(2);
}
const result = await runPolicyBench({ pods: nums[0], policies: nums[1], log: (s) => process.stderr.write(s + '\n') });
console.log(json ? JSON.stringify(result) : formatPolicyBench(result));
