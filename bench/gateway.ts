// `npx tsx bench/gateway.ts [ROUTES] [RULES_PER_ROUTE] [--requests N]`: requests per second of the north-south
// reference router (src/gateway/router.ts) and of the core (assembly/http.ts) for ROUTES HTTPRoutes of RULES_PER_ROUTE rules on one listener
// (default 1,000 routes, 10 rules each: 10,000 rules). Median of 5 rounds. Not a test: figures go to the README.
import { loadManifests } from '../src/k8s/load.js';
import { NorthSouthRouter, HttpRequest } from '../src/gateway/router.js';
import { Prng } from '../src/common/prng.js';
import { HttpCore, compileEntryPoint, packRequest } from '../src/gateway/tables.js';
import { formatDecision } from '../src/gateway/format.js';
import { coreModule } from '../src/node.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--requests');
const requests = ri >= 0 ? Number(args[ri + 1]) : 2000;
const nums = args.filter((a, i) => !a.startsWith('-') && i !== ri + 1).map(Number);
const routes = nums[0] ?? 1000, rulesPer = nums[1] ?? 10;
if (![routes, rulesPer, requests].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error('usage: tsx bench/gateway.ts [ROUTES] [RULES_PER_ROUTE] [--requests N]  (positive integers)');
  process.exit(2);
}

const SERVICES = 100;
const docs: unknown[] = [
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'emu' }, spec: { controllerName: 'dpemu.io/gw' } },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'app' },
    spec: { gatewayClassName: 'emu', addresses: [{ value: '192.0.2.1' }], listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
];
for (let s = 0; s < SERVICES; s++) {
  docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${s}`, namespace: 'app' }, spec: { clusterIP: `10.96.${s >> 8}.${(s & 255) + 10}`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  docs.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `s${s}-a`, namespace: 'app', labels: { 'kubernetes.io/service-name': `s${s}` } },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [`10.244.${s >> 8}.${(s & 255) + 1}`], conditions: { ready: true } }] });
}
for (let r = 0; r < routes; r++) {
  const rules = [];
  for (let j = 0; j < rulesPer; j++) {
    const match: Record<string, unknown> = { path: { type: j % 3 === 0 ? 'Exact' : 'PathPrefix', value: `/r${r}/p${j}` } };
    if (j % 4 === 1) match.headers = [{ name: 'x-v', value: String(j) }];
    rules.push({ matches: [match], backendRefs: [{ name: `s${(r + j) % SERVICES}`, port: 80, weight: 9 }, { name: `s${(r + j + 1) % SERVICES}`, port: 80, weight: 1 }] });
  }
  docs.push({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: `r${r}`, namespace: 'app' },
    spec: { parentRefs: [{ name: 'gw' }], hostnames: [`h${r % 50}.example.com`], rules } });
}
const t0 = performance.now();
const { model } = loadManifests([{ path: 'bench.yaml', text: '', documents: docs }]);
const router = new NorthSouthRouter(model);
const setupMs = performance.now() - t0;

const prng = new Prng(42);
const reqs: HttpRequest[] = [];
for (let i = 0; i < requests; i++) {
  const r = prng.next() % routes, j = prng.next() % rulesPer;
  reqs.push({ method: 'GET', host: `h${r % 50}.example.com`, path: `/r${r}/p${j}${j % 3 === 0 ? '' : '/x'}`, headers: { 'x-v': String(j) } });
}
const t1 = performance.now();
const table = compileEntryPoint(router, '192.0.2.1', 80)!;
const compileMs = performance.now() - t1;
const core = await HttpCore.create(coreModule('release'));
const corePrng = { state: 1 };
// The core decides in batches of 256. "core" times the decision alone over requests the host wrote once
// (packRequest, untimed); "core_end_to_end" also writes each request and formats each record
// (src/gateway/format.ts), as dpemu trace does.
const packed = reqs.map((q) => ({ table, packed: packRequest(q) }));
const BATCH = 256;
const rps: number[] = [], coreRps: number[] = [], e2eRps: number[] = [];
let ok = 0, coreOk = 0, e2eOk = 0;
const REPS = 20;
for (let round = 0; round < 5; round++) { // reference and core rounds take turns
  let t = performance.now();
  for (const q of reqs) if (router.route('192.0.2.1', 80, q)!.decision.status === 200) ok++;
  rps.push(requests / ((performance.now() - t) / 1000));
  t = performance.now();
  for (let reps = 0; reps < REPS; reps++) {
    for (let i = 0; i < packed.length; i += BATCH) for (const d of core.decide(packed.slice(i, i + BATCH), corePrng)) if (d.status === 200) coreOk++;
  }
  coreRps.push((REPS * requests) / ((performance.now() - t) / 1000));
  t = performance.now();
  for (let reps = 0; reps < REPS / 4; reps++) {
    for (let i = 0; i < reqs.length; i += BATCH) {
      const part = reqs.slice(i, i + BATCH);
      const ds = core.decide(part.map((q) => ({ table, packed: packRequest(q) })), corePrng);
      ds.forEach((d, k) => { if (formatDecision(table, d, part[k]).decision.status === 200) e2eOk++; });
    }
  }
  e2eRps.push(((REPS / 4) * requests) / ((performance.now() - t) / 1000));
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[2];
console.log(JSON.stringify({ routes, rules: routes * rulesPer, requests, rounds: 5,
  reference_median_rps: Math.round(med(rps)), core_median_rps: Math.round(med(coreRps)), core_end_to_end_median_rps: Math.round(med(e2eRps)),
  ratio: +(med(coreRps) / med(rps)).toFixed(1), ratio_end_to_end: +(med(e2eRps) / med(rps)).toFixed(1),
  reference_runs: rps.map(Math.round), core_runs: coreRps.map(Math.round), core_end_to_end_runs: e2eRps.map(Math.round),
  routed: ok / (5 * requests), core_routed: coreOk / (5 * REPS * requests), core_end_to_end_routed: e2eOk / (5 * (REPS / 4) * requests),
  table_entries: table.entries.length, table_bytes: table.bytes.length, load_ms: Math.round(setupMs), compile_ms: Math.round(compileMs) }));
