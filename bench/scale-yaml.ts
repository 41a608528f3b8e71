// `npx tsx bench/scale-yaml.ts [FILE] [--nodes N] [--services N] [--clients N]`: write the scale
// benchmark's cluster (5,000 Nodes, 10,000 Services of 10 replicas, 50,000 client pods by default) as
// one YAML file (default: stdout), to load with `dpemu trace`, `dpemu check` or the library.
import { writeFileSync } from 'node:fs';
import { scaleClusterYaml } from '../src/bench/scale.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : Number(args.splice(i, 2)[1]);
};
const cfg = { nodes: opt('nodes'), services: opt('services'), clients: opt('clients') };
const text = scaleClusterYaml(cfg);
if (args[0]) writeFileSync(args[0], text); else process.stdout.write(text);
