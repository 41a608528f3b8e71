// The tracer's north-south step: a packet carrying `http` is a request to a Gateway listener or an Ingress
// address. The WebAssembly core decides it over the compiled route tables (src/gateway/tables.ts,
// assembly/http.ts), a batch of requests per call; with the reference backend the reference router
// (src/gateway/router.ts) decides, one request at a time. A routed request then continues
// through the dataplane as a connection to the chosen Service port's cluster IP, so the usual DNAT,
// conntrack and policy apply and the record's backend is an endpoint of backend_service. The proxy is
// transparent here: the connection keeps the client's source address and port.

import type { ClusterModel } from '../k8s/model.js';
import type { Dataplane } from '../dataplane.js';
import { HttpDecision, HttpRequest, HttpTarget, NorthSouthRouter } from './router.js';
import { CompiledTable, HttpCore, HttpCoreExports, HttpPrng, compileEntryPoint, packRequest } from './tables.js';
import { formatDecision } from './format.js';

const routers = new WeakMap<ClusterModel, NorthSouthRouter>();

function routerOf(model: ClusterModel): NorthSouthRouter {
  let router = routers.get(model);
  if (!router) { router = new NorthSouthRouter(model); routers.set(model, router); }
  return router;
}

/** A model's compiled entry points (undefined: nothing answers there) and its weighted-choice PRNG (seed 1, as the router's). */
interface CorePlan { tables: Map<string, CompiledTable | undefined>; prng: HttpPrng }
const plans = new WeakMap<ClusterModel, CorePlan>();

function planOf(model: ClusterModel): CorePlan {
  let p = plans.get(model);
  if (!p) { p = { tables: new Map(), prng: { state: 1 } }; plans.set(model, p); }
  return p;
}

function tableAt(model: ClusterModel, dst: string, dport: number): CompiledTable | undefined {
  const plan = planOf(model);
  const key = `${dst}:${dport}`;
  if (!plan.tables.has(key)) plan.tables.set(key, compileEntryPoint(routerOf(model), dst, dport));
  return plan.tables.get(key);
}

/**
 * The core instance that decides when the dataplane is the WebAssembly one: its north-south instance
 * (src/wasm.ts WasmDataplane.northSouth), so that route tables never enter the dataplane's own memory.
 */
function coreOf(dp: Dataplane | undefined): HttpCoreExports | undefined {
  const core = dp && dp.kind !== 'reference' ? (dp as unknown as { northSouth?: HttpCoreExports }).northSouth : undefined;
  return core && typeof core.httpDecide === 'function' ? core : undefined;
}

export interface HttpStep {
  http: HttpDecision;
  /** Where the dataplane packet goes when the request is routed: the Service's cluster IP and port. */
  forward?: { dst: string; dport: number };
}

/** Reads the packet's `http` field; throws an Error whose message names the bad field. */
export function parseHttpField(v: unknown): HttpRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('"http": expected an object {"method","host","path","headers"}');
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['method', 'host', 'path', 'headers'].includes(k));
  if (extra.length) throw new Error(`"http": unknown field ${extra.map((k) => JSON.stringify(k)).join(', ')} (known: method, host, path, headers)`);
  const str = (k: string, dflt: string) => {
    if (o[k] === undefined) return dflt;
    if (typeof o[k] !== 'string') throw new Error(`"http.${k}": ${JSON.stringify(o[k])} is not a string`);
    return o[k] as string;
  };
  const headers: Record<string, string> = {};
  if (o.headers !== undefined) {
    if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers)) throw new Error('"http.headers": expected an object of header name to value');
    for (const [k, hv] of Object.entries(o.headers)) {
      if (typeof hv !== 'string') throw new Error(`"http.headers.${k}": ${JSON.stringify(hv)} is not a string`);
      headers[k.toLowerCase()] = hv;
    }
  }
  const path = str('path', '/');
  if (!path.startsWith('/')) throw new Error(`"http.path": ${JSON.stringify(path)} must start with "/"`);
  return { method: str('method', 'GET').toUpperCase(), host: str('host', headers.host ?? ''), path, headers };
}

/** The decision for a request at dst:dport; undefined when no Gateway listener or Ingress answers there. */
export function routeHttpPacket(dp: Dataplane | undefined, model: ClusterModel, dst: string, dport: number, http: unknown): HttpStep | undefined {
  return routeHttpBatch(dp, model, [{ dst, dport, req: parseHttpField(http) }])[0];
}

/**
 * Requests (read by parseHttpField) decided in order: by the core in one call when the dataplane is the
 * WebAssembly one, else by the reference router. Each gets its step, or undefined when nothing answers.
 */
export function routeHttpBatch(dp: Dataplane | undefined, model: ClusterModel, reqs: readonly { dst: string; dport: number; req: HttpRequest }[]): (HttpStep | undefined)[] {
  const core = coreOf(dp);
  if (!core) {
    const router = routerOf(model);
    return reqs.map(({ dst, dport, req }) => { const out = router.route(dst, dport, req); return out && step(out); });
  }
  const out: (HttpStep | undefined)[] = new Array(reqs.length).fill(undefined);
  const batch: { table: CompiledTable; packed: Uint8Array }[] = [], at: number[] = [];
  reqs.forEach(({ dst, dport, req }, i) => {
    const table = tableAt(model, dst, dport);
    if (table) { batch.push({ table, packed: packRequest(req) }); at.push(i); }
  });
  if (!batch.length) return out;
  const decided = HttpCore.of(core).decide(batch, planOf(model).prng);
  decided.forEach((d, k) => { out[at[k]] = step(formatDecision(batch[k].table, d, reqs[at[k]].req)); });
  return out;
}

function step(out: { decision: HttpDecision; target?: HttpTarget }): HttpStep {
  if (!out.target) return { http: out.decision };
  if (!out.target.clusterIP) {
    // A headless Service has no cluster IP to connect through; the proxy would resolve pod addresses.
    return { http: { ...out.decision, status: 503 } };
  }
  return { http: out.decision, forward: { dst: out.target.clusterIP, dport: out.target.port } };
}

/**
 * The state of the weighted choice of a cluster model's north-south decisions (the core's draw when the
 * dataplane is the WebAssembly one, the reference router's otherwise): kept in snapshots, so that a restored
 * emulator draws on where the original was.
 */
export function httpDrawState(dp: Dataplane | undefined, model: ClusterModel): number {
  return coreOf(dp) ? planOf(model).prng.state : routerOf(model).prng.state;
}

export function setHttpDrawState(dp: Dataplane | undefined, model: ClusterModel, state: number): void {
  if (coreOf(dp)) planOf(model).prng.state = state >>> 0;
  else routerOf(model).prng.state = state >>> 0;
}
