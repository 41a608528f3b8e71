// The north-south control plane's compiler: the routes of one entry point (a Gateway address and port, or an
// Ingress address on port 80) become the packed table assembly/http.ts reads (its layout is drawn there),
// with the entries numbered in the precedence order (the core takes the smallest matching number), an index
// by host key and first path segment, each RegularExpression compiled to a DFA (src/gateway/regex.ts), and
// each backendRef's answer (200, 500 invalid, 503 no ready endpoint) decided from the cluster here. Also the
// request writer and HttpCore, which runs batches of requests through a core instance.

import { requestHost } from './hostnames.js';
import type { HTTPRoute, Ingress, IngressBackend, RouteMatch, RouteRule } from './model.js';
import { HttpRequest, HttpTarget, NorthSouthRouter, comparePrecedence, ingressOrder, listenerRank, splitPath } from './router.js';
import { regexDfa } from './regex.js';

export interface GatewayEntry { kind: 'gateway'; route: HTTPRoute; ruleIdx: number; matchIdx: number; rule: RouteRule; match: RouteMatch; hostExact: number; hostLen: number }
export interface IngressEntry { kind: 'ingress'; ingress: Ingress; ruleIdx: number | null }
export type TableEntry = GatewayEntry | IngressEntry;

/** A Service port a decision can name: backend_service and where the connection goes. */
export interface ServiceTarget { name: string; target: HttpTarget }

export interface CompiledTable {
  kind: 'gateway' | 'ingress';
  /** The entry point's port (a redirect without scheme or port keeps it). */
  port: number;
  bytes: Uint8Array;
  entries: TableEntry[];
  services: ServiceTarget[];
}

const NONE = 0xffffffff;
const enc = new TextEncoder();
const HEADER = 64, LISTENER = 16, ENTRY = 64, COND = 32, BACKEND = 16, SLOT = 32;

/** Host flags (assembly/http.ts). */
const HOST = { exact: 0, gatewayWildcard: 1, any: 2, ingressWildcard: 3 } as const;

class Pool {
  chunks: Uint8Array[] = []; size = 0;
  private readonly seen = new Map<string, [number, number]>();
  add(s: string): [number, number] {
    let at = this.seen.get(s);
    if (at === undefined) { at = this.addBytes(enc.encode(s)); this.seen.set(s, at); }
    return at;
  }
  addBytes(b: Uint8Array): [number, number] { const off = this.size; this.chunks.push(b); this.size += b.length; return [off, b.length]; }
}

/** The first path segment: after a leading "/", up to the next "/" (as the core cuts the request's). */
export function firstSegment(p: string): string {
  const s = p.startsWith('/') ? 1 : 0;
  const e = p.indexOf('/', s);
  return p.slice(s, e < 0 ? p.length : e);
}

/** FNV-1a over bytes, as the core's index hash. */
function fnv(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/** A host pattern as (stored text, flags): "*.x" is stored as ".x". */
function hostPattern(h: string | undefined, ingress: boolean): [string, number] {
  if (h === undefined) return ['', HOST.any];
  if (h.startsWith('*.')) return [h.slice(1), ingress ? HOST.ingressWildcard : HOST.gatewayWildcard];
  return [h, HOST.exact];
}

interface Row {
  /** An Ingress row: a wildcard host covers exactly one label. */
  ingress: boolean;
  listener: number; host: string | undefined; pathType: number; path: string; method?: string;
  conds: { where: number; name: string; type: number; value: string }[];
  backends: { weight: number; status: number; service: number }[];
  answer: number; fixed: boolean;
}

class Writer {
  readonly pool = new Pool();
  readonly services: ServiceTarget[] = [];
  private readonly serviceIds = new Map<string, number>();
  serviceId(t: HttpTarget): number {
    const name = `${t.namespace}/${t.name}:${t.port}`;
    let id = this.serviceIds.get(name);
    if (id === undefined) { id = this.services.length; this.services.push({ name, target: t }); this.serviceIds.set(name, id); }
    return id;
  }

  /** listeners: [host pattern, flags, rank]; rows in entry order; the default entry's row last when there is one. */
  write(listeners: [string, number, number][], rows: Row[], defaultEntry: number): Uint8Array {
    const pool = this.pool;
    const dfas: Uint8Array[] = [];
    const dfaAt = new Map<string, number>();
    let dfaSize = 0;
    const dfa = (pattern: string): number | undefined => {
      let at = dfaAt.get(pattern);
      if (at === undefined) {
        const d = regexDfa(pattern);
        if (!d) return undefined;
        at = dfaSize; dfas.push(d); dfaSize += d.length; dfaAt.set(pattern, at);
      }
      return at;
    };
    // Index keys: entries by (host key, first segment), or (host key, any path).
    const lists = new Map<string, { key: Uint8Array; entries: number[] }>();
    rows.forEach((r, e) => {
      if (e === defaultEntry || r.pathType === 3) return;
      const [hk] = hostPattern(r.host, false);
      const any = r.pathType === 2 || (r.pathType === 1 && r.path === '/');
      const hb = enc.encode(hk), sb = enc.encode(any ? '' : firstSegment(r.path));
      const key = new Uint8Array(hb.length + 1 + sb.length);
      key.set(hb); key[hb.length] = any ? 1 : 0; key.set(sb, hb.length + 1);
      const k = `${hk}\u0000${any ? 1 : 0}${any ? '' : firstSegment(r.path)}`;
      let l = lists.get(k);
      if (!l) { l = { key, entries: [] }; lists.set(k, l); }
      l.entries.push(e);
    });
    let slots = 2;
    while (slots < lists.size * 2) slots *= 2;
    const nConds = rows.reduce((s, r) => s + r.conds.length, 0), nBackends = rows.reduce((s, r) => s + r.backends.length, 0);
    const listWords = [...lists.values()].reduce((s, l) => s + l.entries.length, 0);
    const lOff = HEADER, eOff = lOff + listeners.length * LISTENER, cOff = eOff + rows.length * ENTRY, bOff = cOff + nConds * COND;
    const iOff = bOff + nBackends * BACKEND, listOff = iOff + slots * SLOT, dOff = listOff + listWords * 4;
    // DFAs are known only once the rows are written: write the rows into word arrays first.
    const erec: number[][] = [], crec: number[][] = [], brec: number[][] = [];
    const keyAt: [number, number][] = [];
    for (const r of rows) {
      const [h, hf] = hostPattern(r.host, r.ingress);
      const [ho, hl] = pool.add(h);
      let pt = r.pathType, po = 0, pl = 0;
      if (pt === 2) { const at = dfa(r.path); if (at === undefined) pt = 3; else po = dOff + at; }
      if (pt <= 1) [po, pl] = pool.add(r.path);
      const [mo, ml] = r.method ? pool.add(r.method) : [0, 0];
      const condFirst = crec.length;
      for (const c of r.conds) {
        const [no, nl] = pool.add(c.name);
        let type = c.type, vo = 0, vl = 0;
        if (type === 1) { const at = dfa(c.value); if (at === undefined) type = 2; else vo = dOff + at; }
        if (type === 0) [vo, vl] = pool.add(c.value);
        crec.push([c.where, no, nl, type, vo, vl, 0, 0]);
      }
      const backendFirst = brec.length;
      for (const b of r.backends) brec.push([b.weight, b.status, b.service, 0]);
      erec.push([r.listener, ho, hl, hf, pt, po, pl, mo, ml, r.conds.length, condFirst, backendFirst, r.backends.length, r.answer, r.fixed ? 1 : 0, 0]);
    }
    for (const l of lists.values()) keyAt.push(pool.addBytes(l.key));
    const lhost = listeners.map(([h]) => pool.add(h));
    const pOff = dOff + dfaSize;
    const bytes = new Uint8Array(((pOff + pool.size + 3) & ~3) + 4);
    const dv = new DataView(bytes.buffer);
    const words = (off: number, xs: number[]) => xs.forEach((x, i) => dv.setUint32(off + i * 4, x >>> 0, true));
    words(0, [listeners.length, lOff, rows.length, eOff, cOff, bOff, iOff, slots - 1, defaultEntry < 0 ? NONE : defaultEntry]);
    bytes[60] = 0; bytes[61] = 1; // the separator bytes the core hashes (header word 15)
    listeners.forEach(([, flags, rank], i) => words(lOff + i * LISTENER, [lhost[i][0] + pOff, lhost[i][1], flags, rank]));
    erec.forEach((r, i) => { r[1] += pOff; if (r[4] <= 1) r[5] += pOff; if (r[8]) r[7] += pOff; words(eOff + i * ENTRY, r); });
    crec.forEach((r, i) => { r[1] += pOff; if (r[3] === 0) r[4] += pOff; words(cOff + i * COND, r); });
    brec.forEach((r, i) => words(bOff + i * BACKEND, r));
    let at = listOff, li = 0;
    for (const l of lists.values()) {
      const hash = fnv(l.key);
      let s = hash & (slots - 1);
      while (dv.getUint32(iOff + s * SLOT + 8, true) !== 0) s = (s + 1) & (slots - 1);
      words(iOff + s * SLOT, [hash, keyAt[li][0] + pOff, l.key.length, at, l.entries.length]);
      words(at, l.entries);
      at += l.entries.length * 4; li++;
    }
    let d = dOff;
    for (const x of dfas) { bytes.set(x, d); d += x.length; }
    let p = pOff;
    for (const c of pool.chunks) { bytes.set(c, p); p += c.length; }
    return bytes;
  }
}

/** The table of what answers at (address, port), as router.route() decides there; undefined when nothing does. */
export function compileEntryPoint(router: NorthSouthRouter, address: string, port: number): CompiledTable | undefined {
  const listeners = router.ns.gateways.filter((g) => router.served(g) && g.address === address)
    .flatMap((g) => g.listeners.filter((l) => l.port === port && l.protocol === 'HTTP').map((l) => ({ g, l })));
  if (listeners.length) return compileGateway(router, listeners, port);
  if (port === 80) {
    const ing = router.servedIngresses().filter((i) => i.address === address);
    if (ing.length) return compileIngress(router, ing, port);
  }
  return undefined;
}

function compileGateway(router: NorthSouthRouter, listeners: { g: { namespace: string; name: string }; l: { hostname?: string } }[], port: number): CompiledTable {
  const entries: (GatewayEntry & { listener: number; host?: string })[] = [];
  listeners.forEach(({ g, l }, li) => {
    for (const a of router.attachments) {
      if (a.gateway !== g || a.listener !== l) continue;
      const r = a.route;
      const hosts: (string | undefined)[] = r.hostnames.length ? r.hostnames : [undefined];
      for (const h of hosts) {
        const src = h ?? l.hostname;
        const hostExact = src === undefined || src.startsWith('*.') ? 0 : src.length, hostLen = src?.length ?? 0;
        r.rules.forEach((rule, ruleIdx) => rule.matches.forEach((match, matchIdx) => entries.push({
          kind: 'gateway', route: r, ruleIdx, matchIdx, rule, match, hostExact, hostLen, listener: li, ...(h ? { host: h } : {}),
        })));
      }
    }
  });
  entries.sort(comparePrecedence);
  const w = new Writer();
  // A rule's answer per backendRef, decided once per rule (not per match or hostname).
  const answers = new Map<RouteRule, Row['backends']>();
  const rows: Row[] = entries.map((e) => {
    const m = e.match;
    const pathType = m.path.type === 'Exact' ? 0 : m.path.type === 'PathPrefix' ? 1 : 2;
    const path = pathType === 1 && m.path.value.length > 1 && m.path.value.endsWith('/') ? m.path.value.slice(0, -1) : m.path.value;
    const conds = [
      ...m.headers.map((h) => ({ where: 0, name: h.name, type: h.type === 'Exact' ? 0 : 1, value: h.value })),
      ...m.queryParams.map((q) => ({ where: 1, name: q.name, type: q.type === 'Exact' ? 0 : 1, value: q.value })),
    ];
    const redirect = e.rule.filters.find((f) => f.type === 'RequestRedirect');
    let backends = answers.get(e.rule);
    if (!backends) {
      backends = redirect ? [] : e.rule.backendRefs.map((b) => {
        const r = router.resolve(e.route, b);
        if (!r.ok) return { weight: b.weight, status: 500, service: NONE };
        const target: HttpTarget = { namespace: b.namespace, name: b.name, port: r.port, ...(r.svc.clusterIP ? { clusterIP: r.svc.clusterIP } : {}) };
        return { weight: b.weight, status: router.hasReadyEndpoint(r.svc, r.port) ? 200 : 503, service: w.serviceId(target) };
      });
      answers.set(e.rule, backends);
    }
    return {
      ingress: false, listener: e.listener, host: e.host, pathType, path, ...(m.method ? { method: m.method } : {}), conds, backends,
      answer: redirect && redirect.type === 'RequestRedirect' ? redirect.statusCode : 0, fixed: false,
    };
  });
  const lrec = listeners.map(({ l }): [string, number, number] => [...hostPattern(l.hostname, false), listenerRank(l.hostname)]);
  return { kind: 'gateway', port, bytes: w.write(lrec, rows, -1), entries, services: w.services };
}

function compileIngress(router: NorthSouthRouter, ingresses: Ingress[], port: number): CompiledTable {
  const ordered = [...ingresses].sort(ingressOrder);
  const w = new Writer();
  // Host tiers as listeners: an exact host's rules, else a wildcard's (one label), else the rules without a host.
  const hostIds = new Map<string | undefined, number>();
  const lrec: [string, number, number][] = [];
  type Cand = { ing: Ingress; ruleIdx: number; pathType: string; p: string; backend: IngressBackend; listener: number };
  const cands: Cand[] = [];
  for (const ing of ordered) ing.rules.forEach((r, ruleIdx) => {
    if (!r.paths.length) return;
    let li = hostIds.get(r.host);
    if (li === undefined) {
      li = lrec.length; hostIds.set(r.host, li);
      lrec.push([...hostPattern(r.host, true), r.host === undefined ? 0 : r.host.startsWith('*.') ? 1 : 2]);
    }
    for (const p of r.paths) {
      // Of equal (path, pathType) in one rule, the first one's backend (as the reference looks it up).
      const backend = r.paths.find((x) => x.path === p.path && x.pathType === p.pathType)!.backend;
      cands.push({ ing, ruleIdx, pathType: p.pathType, p: p.path, backend, listener: li });
    }
  });
  // Ingress "Multiple matches": the longest path first, Exact before Prefix of equal length; stable.
  const normLen = (p: string) => (p.length > 1 && p.endsWith('/') ? p.length - 1 : p.length);
  cands.sort((a, b) => normLen(b.p) - normLen(a.p) || (a.pathType === 'Exact' ? 0 : 1) - (b.pathType === 'Exact' ? 0 : 1));
  const answer = (ing: Ingress, backend: IngressBackend): Row['backends'] => {
    if (!backend.service) return [{ weight: 1, status: 500, service: NONE }];
    const svc = router.model.services.find((s) => s.namespace === ing.namespace && s.name === backend.service!.name);
    const sp = svc?.ports.find((p) => (typeof backend.service!.port === 'number' ? p.port === backend.service!.port : p.name === backend.service!.port));
    // A missing Service or port: 503, as ingress-nginx answers (no upstream).
    if (!svc || !sp) return [{ weight: 1, status: 503, service: NONE }];
    const target: HttpTarget = { namespace: svc.namespace, name: svc.name, port: sp.port, ...(svc.clusterIP ? { clusterIP: svc.clusterIP } : {}) };
    return [{ weight: 1, status: router.hasReadyEndpoint(svc, sp.port) ? 200 : 503, service: w.serviceId(target) }];
  };
  const entries: TableEntry[] = [];
  const rows: Row[] = cands.map((c) => {
    entries.push({ kind: 'ingress', ingress: c.ing, ruleIdx: c.ruleIdx });
    const host = c.ing.rules[c.ruleIdx].host;
    const prefix = c.pathType !== 'Exact';
    const path = prefix && c.p.length > 1 && c.p.endsWith('/') ? c.p.slice(0, -1) : c.p;
    return { ingress: true, listener: c.listener, host, pathType: prefix ? 1 : 0, path, conds: [], backends: answer(c.ing, c.backend), answer: 0, fixed: true };
  });
  // spec.defaultBackend takes what no rule matches: an entry the index never lists.
  const withDefault = ordered.find((i) => i.defaultBackend);
  let defaultEntry = -1;
  if (withDefault) {
    defaultEntry = rows.length;
    entries.push({ kind: 'ingress', ingress: withDefault, ruleIdx: null });
    rows.push({ ingress: true, listener: 0, host: undefined, pathType: 3, path: '', conds: [], backends: answer(withDefault, withDefault.defaultBackend!), answer: 0, fixed: true });
  }
  return { kind: 'ingress', port, bytes: w.write(lrec, rows, defaultEntry), entries, services: w.services };
}

/** UTF-8 length of a string (TextEncoder only for the rare non-ASCII one: small encode() calls dominate otherwise). */
function utf8(s: string): Uint8Array | number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return enc.encode(s);
  return s.length;
}

/** One request packed as assembly/http.ts reads it: [12 words][header pairs][strings], offsets from its start. */
export function packRequest(req: HttpRequest): Uint8Array {
  const raw = req.headers ?? {};
  const names = Object.keys(raw);
  const [path, query] = splitPath(req.path || '/');
  const strs: string[] = [(req.method || 'GET').toUpperCase(), requestHost(req.host ?? ''), path, query];
  for (const k of names) strs.push(k.toLowerCase(), String(raw[k]));
  const encoded = strs.map(utf8);
  const head = 48 + names.length * 16;
  let size = head;
  for (const e of encoded) size += typeof e === 'number' ? e : e.length;
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  let at = head;
  encoded.forEach((e, i) => {
    const len = typeof e === 'number' ? e : e.length;
    // strings 0..3: method, host, path, query at words 0..7; then (name, value) pairs from byte 48
    dv.setUint32(i < 4 ? i * 8 : 48 + (i - 4) * 8, at, true);
    dv.setUint32((i < 4 ? i * 8 : 48 + (i - 4) * 8) + 4, len, true);
    if (typeof e === 'number') { const s = strs[i]; for (let k = 0; k < len; k++) bytes[at + k] = s.charCodeAt(k); } else bytes.set(e, at);
    at += len;
  });
  dv.setUint32(32, names.length, true);
  dv.setUint32(36, 48, true);
  return bytes;
}

/** The exports of the core HttpCore uses (every instance of assembly/index.ts has them). */
export interface HttpCoreExports {
  memory: WebAssembly.Memory;
  scratchAlloc(size: number): number;
  allocatedBytes(): number;
  httpSeed(s: number): void;
  httpPrngState(): number;
  httpDecide(reqIndex: number, n: number, out: number): number;
}

/** What the core decided for one request (assembly/http.ts Decision). */
export interface CoreDecision { status: number; entry: number; backend: number; service: number }

/** The weighted choice's PRNG state, one per cluster model (the reference keeps one router per model). */
export interface HttpPrng { state: number }

const STAMP_WORD = 9; // header word where the host writes a table's stamp

let stamps = 0;
const cores = new WeakMap<object, HttpCore>();

/**
 * Batches of requests through one core instance (the tracer uses the dataplane's north-south instance,
 * src/wasm.ts WasmDataplane.northSouth). Tables are written into the instance's memory once and found again
 * by their stamp; should the instance's memory be put back under them (importState on an instance shared
 * with a dataplane restores all of memory and the allocator), that is noticed and the table written again.
 * The allocator only grows, so a table is never rewritten in place: a changed cluster's tables take new
 * memory (a few KB each; 1.3 MB for 10,000 rules).
 */
export class HttpCore {
  private readonly placed = new WeakMap<CompiledTable, { at: number; end: number; stamp: number }>();
  private buf = 0;
  private bufSize = 0;
  private constructor(private readonly x: HttpCoreExports) {}

  /** The HttpCore of an instance's exports (one per instance). */
  static of(x: HttpCoreExports): HttpCore {
    let c = cores.get(x);
    if (!c) { c = new HttpCore(x); cores.set(x, c); }
    return c;
  }

  /** A fresh instance of the core, for HTTP decisions alone (tests and benchmarks). */
  static async create(module: WebAssembly.Module): Promise<HttpCore> {
    const inst = await WebAssembly.instantiate(module, {});
    return HttpCore.of(inst.exports as unknown as HttpCoreExports);
  }

  private place(t: CompiledTable): number {
    const p = this.placed.get(t);
    if (p && (this.x.allocatedBytes() >>> 0) + heapBase(this.x) >= p.end && new DataView(this.x.memory.buffer).getUint32(p.at + STAMP_WORD * 4, true) === p.stamp) return p.at;
    const at = this.x.scratchAlloc(t.bytes.length) >>> 0;
    if (!at) throw new RangeError('out of memory for the route table');
    const stamp = (++stamps) >>> 0 || ++stamps;
    new Uint8Array(this.x.memory.buffer, at, t.bytes.length).set(t.bytes);
    new DataView(this.x.memory.buffer).setUint32(at + STAMP_WORD * 4, stamp, true);
    this.placed.set(t, { at, end: at + t.bytes.length, stamp });
    return at;
  }

  /** Packed requests (packRequest), each with the table that decides it, in one call; `prng` advances. */
  decide(reqs: { table: CompiledTable; packed: Uint8Array }[], prng: HttpPrng): CoreDecision[] {
    const tables: number[] = new Array(reqs.length);
    let last: CompiledTable | undefined, lastAt = 0;
    reqs.forEach((r, i) => { if (r.table !== last) { last = r.table; lastAt = this.place(r.table); } tables[i] = lastAt; });
    const total = reqs.reduce((s, r) => s + ((r.packed.length + 15) & ~15), 0);
    const need = total + reqs.length * 4 + reqs.length * 16;
    // One request area, replaced only by a larger one.
    if (need > this.bufSize || !this.bufLive()) {
      this.buf = this.x.scratchAlloc(Math.max(need, 4096)) >>> 0;
      this.bufSize = Math.max(need, 4096);
      if (!this.buf) { this.bufSize = 0; throw new RangeError('out of memory for the request batch'); }
    }
    // The areas above may have grown memory: views are made after.
    const mem = new Uint8Array(this.x.memory.buffer);
    const dv = new DataView(this.x.memory.buffer);
    const buf = this.buf, index = buf + total, out = index + reqs.length * 4;
    let at = buf;
    reqs.forEach((r, i) => {
      mem.set(r.packed, at);
      dv.setUint32(at + 44, tables[i], true); // word 11: the table
      dv.setUint32(index + i * 4, at, true);
      at += (r.packed.length + 15) & ~15;
    });
    this.x.httpSeed(prng.state);
    this.x.httpDecide(index, reqs.length, out);
    prng.state = this.x.httpPrngState() >>> 0;
    const dv2 = new DataView(this.x.memory.buffer);
    const get = (i: number, k: number) => dv2.getUint32(out + i * 16 + k * 4, true);
    const opt = (v: number) => (v === NONE ? -1 : v);
    return reqs.map((_, i) => ({ status: get(i, 0), entry: opt(get(i, 1)), backend: opt(get(i, 2)), service: opt(get(i, 3)) }));
  }

  /** The request area is still the allocator's (a restored snapshot may have taken it back). */
  private bufLive(): boolean { return this.buf !== 0 && (this.x.allocatedBytes() >>> 0) + heapBase(this.x) >= this.buf + this.bufSize; }
}

/**
 * The allocator's base (allocatedBytes counts from it): learned once per instance from a 16-byte allocation
 * (scratchAlloc aligns to 16, so its end is the heap top).
 */
const bases = new WeakMap<object, number>();
function heapBase(x: HttpCoreExports): number {
  let b = bases.get(x);
  if (b === undefined) {
    const at = x.scratchAlloc(16) >>> 0;
    b = at + 16 - (x.allocatedBytes() >>> 0);
    bases.set(x, b);
  }
  return b;
}
