// The north-south control plane's compiler: the routes attached to the listeners of one entry point
// (address, port) become the packed table assembly/http.ts reads (its layout is drawn there), with the
// entries pre-sorted by the HTTPRoute precedence so that the core takes the first match. Also the request
// writer and the host wrapper that runs a batch of requests through the core.

import { requestHost } from './hostnames.js';
import type { HTTPRoute, RouteMatch, RouteRule } from './model.js';
import { NorthSouthRouter, comparePrecedence, listenerRank, splitPath, HttpRequest } from './router.js';

export interface TableEntry { route: HTTPRoute; ruleIdx: number; matchIdx: number; rule: RouteRule; match: RouteMatch; hostExact: number; hostLen: number }
export interface CompiledTable { bytes: Uint8Array; entries: TableEntry[] }

const NONE = 0xffffffff;
const enc = new TextEncoder();

class Pool {
  chunks: Uint8Array[] = []; size = 0;
  add(s: string): [number, number] { const b = enc.encode(s); const off = this.size; this.chunks.push(b); this.size += b.length; return [off, b.length]; }
}

/** Entries match only when the core can decide them: RegularExpression paths are not compiled (never match). */
export function compileEntryPoint(router: NorthSouthRouter, address: string, port: number): CompiledTable {
  const listeners = router.ns.gateways.filter((g) => router.served(g) && g.address === address)
    .flatMap((g) => g.listeners.filter((l) => l.port === port && l.protocol === 'HTTP').map((l) => ({ g, l })));
  const entries: (TableEntry & { listener: number; host?: string })[] = [];
  listeners.forEach(({ g, l }, li) => {
    for (const a of router.attachments) {
      if (a.gateway !== g || a.listener !== l) continue;
      const r = a.route;
      const hosts: (string | undefined)[] = r.hostnames.length ? r.hostnames : [undefined];
      for (const h of hosts) {
        const src = h ?? l.hostname;
        const hostExact = src === undefined || src.startsWith('*.') ? 0 : src.length, hostLen = src?.length ?? 0;
        r.rules.forEach((rule, ruleIdx) => rule.matches.forEach((match, matchIdx) => entries.push({ route: r, ruleIdx, matchIdx, rule, match, hostExact, hostLen, listener: li, ...(h ? { host: h } : {}) })));
      }
    }
  });
  entries.sort(comparePrecedence);
  const pool = new Pool();
  const conds: number[][] = [], backends: number[][] = [];
  const lrec = listeners.map(({ l }) => {
    const [o, n] = l.hostname ? pool.add(l.hostname.startsWith('*.') ? l.hostname.slice(1) : l.hostname) : [0, 0];
    return [o, n, l.hostname === undefined ? 2 : l.hostname.startsWith('*.') ? 1 : 0, listenerRank(l.hostname)];
  });
  const erec = entries.map((e) => {
    const [ho, hl] = e.host ? pool.add(e.host.startsWith('*.') ? e.host.slice(1) : e.host) : [0, 0];
    const hf = e.host === undefined ? 2 : e.host.startsWith('*.') ? 1 : 0;
    const pt = e.match.path.type === 'Exact' ? 0 : e.match.path.type === 'PathPrefix' ? 1 : 2;
    const pv = pt === 1 && e.match.path.value.length > 1 && e.match.path.value.endsWith('/') ? e.match.path.value.slice(0, -1) : e.match.path.value;
    const [po, pl] = pool.add(pv);
    const [mo, ml] = e.match.method ? pool.add(e.match.method) : [0, 0];
    const condFirst = conds.length;
    for (const h of e.match.headers) { const [no, nl] = pool.add(h.name); const [vo, vl] = pool.add(h.value); conds.push([h.type === 'Exact' ? 0 : 2, no, nl, vo, vl]); }
    for (const q of e.match.queryParams) { const [no, nl] = pool.add(q.name); const [vo, vl] = pool.add(q.value); conds.push([q.type === 'Exact' ? 1 : 2, no, nl, vo, vl]); }
    // a RegularExpression header or query match is not compiled: the entry never matches in the core
    const never = conds.slice(condFirst).some((c) => c[0] === 2) ? 2 : pt;
    const backendFirst = backends.length;
    const redirect = e.rule.filters.some((f) => f.type === 'RequestRedirect');
    if (!redirect) e.rule.backendRefs.forEach((b, i) => backends.push([b.weight, i]));
    return [e.listener, ho, hl, hf, never, po, pl, mo, ml, conds.length - condFirst, condFirst, backendFirst, backends.length - backendFirst];
  });
  const header = 6 * 4;
  const lOff = header, eOff = lOff + lrec.length * 16, cOff = eOff + erec.length * 64, bOff = cOff + conds.length * 32, pOff = bOff + backends.length * 8;
  const bytes = new Uint8Array(pOff + pool.size + 4);
  const dv = new DataView(bytes.buffer);
  const words = (off: number, xs: number[]) => xs.forEach((x, i) => dv.setUint32(off + i * 4, x, true));
  words(0, [lrec.length, lOff, erec.length, eOff, cOff, bOff]);
  const rebase = (rec: number[], idx: number[]) => { for (const i of idx) rec[i] += pOff; return rec; };
  lrec.forEach((r, i) => words(lOff + i * 16, rebase(r, [0])));
  erec.forEach((r, i) => words(eOff + i * 64, rebase(r, [1, 5, 7])));
  conds.forEach((r, i) => words(cOff + i * 32, rebase(r, [1, 3])));
  backends.forEach((r, i) => words(bOff + i * 8, r));
  let at = pOff;
  for (const c of pool.chunks) { bytes.set(c, at); at += c.length; }
  return { bytes, entries };
}

/** One request packed as assembly/http.ts reads it: [12 words][strings], offsets relative to its start. */
export function packRequest(req: HttpRequest): Uint8Array {
  const headers = Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
  const [path, query] = splitPath(req.path || '/');
  const pool = new Pool();
  const head = 48 + headers.length * 16;
  const m = pool.add((req.method || 'GET').toUpperCase()), h = pool.add(requestHost(req.host ?? '')), p = pool.add(path), q = pool.add(query);
  const hp = headers.map(([k, v]) => [...pool.add(k), ...pool.add(v)]);
  const bytes = new Uint8Array(head + pool.size);
  const dv = new DataView(bytes.buffer);
  const put = (off: number, xs: number[]) => xs.forEach((x, i) => dv.setUint32(off + i * 4, x, true));
  put(0, [m[0] + head, m[1], h[0] + head, h[1], p[0] + head, p[1], q[0] + head, q[1], headers.length, 48, 0, 0]);
  hp.forEach((r, i) => put(48 + i * 16, [r[0] + head, r[1], r[2] + head, r[3]]));
  let at = head;
  for (const c of pool.chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

interface HttpCoreExports {
  memory: WebAssembly.Memory;
  scratchAlloc(size: number): number;
  httpSeed(s: number): void;
  httpDecide(tbl: number, reqIndex: number, n: number, out: number): number;
}

export interface CoreDecision { entry: number; backend: number; listener: boolean }

/** A core instance holding one compiled table; decide() runs a batch of requests through it. */
export class HttpCore {
  private tbl = 0;
  private buf = 0;
  private bufSize = 0;
  private constructor(private readonly x: HttpCoreExports) {}
  static async create(module: WebAssembly.Module, seed = 1): Promise<HttpCore> {
    const inst = await WebAssembly.instantiate(module, {});
    const core = new HttpCore(inst.exports as unknown as HttpCoreExports);
    core.x.httpSeed(seed);
    return core;
  }
  load(table: CompiledTable) {
    this.tbl = this.x.scratchAlloc(table.bytes.length);
    if (!this.tbl) throw new RangeError('out of memory for the route table');
    new Uint8Array(this.x.memory.buffer, this.tbl, table.bytes.length).set(table.bytes);
  }
  /** Packed requests (packRequest) decided in one call. */
  decide(reqs: Uint8Array[]): CoreDecision[] {
    const total = reqs.reduce((s, r) => s + ((r.length + 15) & ~15), 0);
    const need = total + reqs.length * 4 + reqs.length * 16;
    // The core's allocator only grows: one request area, replaced only by a larger one.
    if (need > this.bufSize) { this.buf = this.x.scratchAlloc(need); this.bufSize = need; }
    const buf = this.buf;
    if (!buf) throw new RangeError('out of memory for the request batch');
    const mem = new Uint8Array(this.x.memory.buffer);
    const index = buf + total, out = index + reqs.length * 4;
    const dv = new DataView(this.x.memory.buffer);
    let at = buf;
    reqs.forEach((r, i) => { mem.set(r, at); dv.setUint32(index + i * 4, at, true); at += (r.length + 15) & ~15; });
    this.x.httpDecide(this.tbl, index, reqs.length, out);
    const dv2 = new DataView(this.x.memory.buffer);
    return reqs.map((_, i) => {
      const e = dv2.getUint32(out + i * 16, true), b = dv2.getUint32(out + i * 16 + 4, true);
      return { entry: e === NONE ? -1 : e, backend: b === NONE ? -1 : b, listener: dv2.getUint32(out + i * 16 + 8, true) === 1 };
    });
  }
}
