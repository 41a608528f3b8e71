// `npx tsx bench/scale.ts [--json] [--nodes N] [--services N] [--clients N]`: load time, memory and
// per-packet cost of 5,000 Nodes, 150,000 pods, 10,000 Services and 100,000 endpoints given as YAML
// (src/bench/scale.ts). Run with `node --expose-gc --import tsx bench/scale.ts` for the memory figure
// after a collection.
import { setFlagsFromString } from 'node:v8';
import { runScale, formatScale } from '../src/bench/scale.js';

// The young generation the dpemu CLI runs with (src/cli.ts): loading makes many short-lived objects.
setFlagsFromString('--max-semi-space-size=64');

const args = process.argv.slice(2);
const json = args.includes('--json');
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]?.replace(/_/g, ''));
  if (!Number.isInteger(v) || v < 1) { console.error(`--${name}: a positive integer`); process.exit(2); }
  return v;
};
const result = await runScale({ nodes: opt('nodes'), services: opt('services'), clients: opt('clients'), flows: opt('flows'),
  log: (s) => process.stderr.write(s + '\n') });
console.log(json ? JSON.stringify(result) : formatScale(result));
