// `dpemu trace` and the API decide HTTP requests in the WebAssembly core (wasm backend) and with the reference
// router (reference backend): the same records, byte for byte; regex matches reported by check when outside
// the supported syntax.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readManifestFiles } from '../../src/k8s/files.js';
import { loadManifests } from '../../src/k8s/load.js';
import { checkCluster } from '../../src/k8s/check.js';
import { createTracer, traceLines, TraceRecord } from '../../src/trace.js';
import { NorthSouthRouter } from '../../src/gateway/router.js';
import { createEmulator, restoreEmulator } from '../../src/index.node.js';
import type { PacketInput } from '../../src/index.node.js';
import { coreModule, createDataplane } from '../../src/node.js';
import type { WasmDataplane } from '../../src/wasm.js';
import { HttpCore, HttpCoreExports, compileEntryPoint, packRequest } from '../../src/gateway/tables.js';
import { parseHttpField } from '../../src/gateway/trace-hook.js';

const dir = 'examples/gateway';
// A route beside the example's: regular expressions on path, header and query, weights, and one pattern
// outside the supported syntax (a backreference).
const EXTRA = {
  path: 'extra.yaml', text: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: regex, namespace: store}
spec:
  parentRefs: [{name: public, namespace: infra}]
  hostnames: [re.example.com]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/item/[0-9]{1,4}"}}]
    backendRefs: [{name: store-v1, port: 80, weight: 1}, {name: store-v2, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /h}, headers: [{type: RegularExpression, name: X-Tier, value: "gold|silver"}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-tier-seen, value: "yes"}]}}]
    backendRefs: [{name: store-v2, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{type: RegularExpression, name: id, value: "\\\\d+"}]}]
    filters: [{type: URLRewrite, urlRewrite: {hostname: internal.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /query}}}]
    backendRefs: [{name: store-v1, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/(a)\\\\1"}}]
    backendRefs: [{name: store-v1, port: 80}]
` };

const req = (sport: number, host: string, path: string, headers?: Record<string, string>, dst = '203.0.113.50') =>
  JSON.stringify({ src: '198.51.100.7', sport, dst, dport: 80, proto: 'TCP', http: { method: 'GET', host, path, ...(headers ? { headers } : {}) } });
const LINES = [
  ...readFileSync(`${dir}/packets.jsonl`, 'utf8').trim().split('\n'),
  ...Array.from({ length: 12 }, (_, i) => req(41000 + i, 're.example.com', `/item/${i * 97}`)),
  req(41100, 're.example.com', '/item/12345'),
  req(41101, 're.example.com', '/h/x', { 'X-Tier': 'gold' }),
  req(41102, 're.example.com', '/h/x', { 'X-Tier': 'bronze' }),
  req(41103, 're.example.com', '/q/list?id=42'),
  req(41104, 're.example.com', '/q/list?id=x'),
  req(41105, 're.example.com', '/aa'),
  req(41106, 're.example.com', '/x', {}, '203.0.113.99'), // nothing answers there: an error record
  JSON.stringify({ src: '198.51.100.7', sport: 41107, dst: '203.0.113.50', dport: 80, http: { path: 'no-slash' } }), // a bad http field
  ...readFileSync(`${dir}/packets.jsonl`, 'utf8').trim().split('\n'),
];

async function traced(backend: 'wasm' | 'reference') {
  const tracer = await createTracer([...readManifestFiles([dir]), EXTRA], { backend });
  return traceLines(tracer, LINES);
}

describe('HTTP requests through the core', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('dpemu trace: the same records on the wasm core and the reference router, regex, filters and weights included', async () => {
    const wasmRoute = vi.spyOn(NorthSouthRouter.prototype, 'route');
    const wasm = await traced('wasm');
    // The core decided: the reference router was never asked.
    expect(wasmRoute).not.toHaveBeenCalled();
    const ref = await traced('reference');
    expect(wasmRoute).toHaveBeenCalled();
    expect(JSON.stringify(wasm)).toBe(JSON.stringify(ref));
    const recs = wasm as (TraceRecord & { error?: string })[];
    const extra = recs.slice(8, 8 + 20);
    // The 1:1 split sends some of the twelve /item requests to each version.
    const items = extra.slice(0, 12).map((r) => r.http!.backend_service);
    expect(new Set(items)).toEqual(new Set(['store/store-v1:80', 'store/store-v2:80']));
    expect(extra.slice(12, 18).map((r) => [r.http!.status, r.http!.route, r.http!.rule])).toEqual([
      [404, null, null], // /item/12345: five digits, outside {1,4}
      [200, 'store/regex', 1], [404, null, null], // X-Tier gold | silver
      [200, 'store/regex', 2], [404, null, null], // ?id=\d+
      [404, null, null], // a backreference never matches
    ]);
    expect(extra[13].http!.response_headers).toEqual({ 'x-tier-seen': 'yes' });
    expect(extra[15].http!.request).toMatchObject({ host: 'internal.example.com', path: '/query/list?id=42' });
    expect(extra[15]).toMatchObject({ verdict: 'FORWARDED', service: 'store/store-v1:http' });
    expect(extra[18].error).toMatch(/no Gateway listener or Ingress answers at 203\.0\.113\.99:80/);
    expect(extra[19].error).toMatch(/"http.path": "no-slash" must start with "\/"/);
  });

  it('send(): the same records on both backends, one packet at a time or many', async () => {
    const packets = LINES.filter((l) => !l.includes('203.0.113.99') && !l.includes('no-slash')).map((l) => JSON.parse(l) as PacketInput);
    const out: string[] = [];
    for (const backend of ['wasm', 'reference'] as const) {
      const emu = await createEmulator({ backend });
      emu.applyFiles([...readManifestFiles([dir]), EXTRA]);
      const one = packets.slice(0, 10).map((p) => emu.send(p));
      out.push(JSON.stringify([...one, ...emu.send(packets.slice(10))]));
    }
    expect(out[0]).toBe(out[1]);
  });

  it('explain() of a request, which puts the core memory back, leaves later decisions right', async () => {
    const packets = LINES.slice(8, 20).map((l) => JSON.parse(l) as PacketInput);
    const out: string[] = [];
    for (const backend of ['wasm', 'reference'] as const) {
      const emu = await createEmulator({ backend });
      emu.applyFiles([...readManifestFiles([dir]), EXTRA]);
      const first = emu.explain(packets[0]); // the first request: its table is written, then memory is put back
      out.push(JSON.stringify([first, ...emu.send(packets)]));
    }
    expect(out[0]).toBe(out[1]);
  });

  it('route tables in an instance whose memory is put back (importState): written again, decisions unchanged', async () => {
    const reqs = LINES.slice(8, 20).map((l) => JSON.parse(l)).map((o) => packRequest(parseHttpField(o.http)));
    const model = loadManifests([...readManifestFiles([dir]), EXTRA]).model;
    const table = compileEntryPoint(new NorthSouthRouter(model), '203.0.113.50', 80)!;
    const dp = (await createDataplane('wasm')) as WasmDataplane;
    const shared = HttpCore.of(dp.core as unknown as HttpCoreExports); // a core shared with a dataplane
    const empty = dp.exportState(); // before any table was written
    const prng = { state: 1 };
    const got = shared.decide(reqs.map((packed) => ({ table, packed })), prng);
    dp.importState(empty); // the allocator and memory go back: the table and the request area are gone
    got.push(...shared.decide(reqs.map((packed) => ({ table, packed })), prng));
    const fresh = await HttpCore.create(coreModule('release'));
    const wantPrng = { state: 1 };
    const want = [0, 1].flatMap(() => fresh.decide(reqs.map((packed) => ({ table, packed })), wantPrng));
    expect(got).toEqual(want);
    expect(got.filter((d) => d.status === 200).length).toBeGreaterThan(10);
  });

  it('the dataplane memory holds no route tables: a restored copy sends alike and snapshots stay byte-equal', async () => {
    const packets = LINES.slice(2, 8).map((l) => JSON.parse(l) as PacketInput); // no weighted choice among these
    const emu = await createEmulator({ backend: 'wasm' });
    emu.applyFiles([...readManifestFiles([dir]).map((f) => ({ path: f.path, text: f.text })), EXTRA]); // the API's manifest texts
    emu.send(packets);
    const copy = await restoreEmulator(emu.snapshot());
    expect(JSON.stringify(copy.send(packets))).toBe(JSON.stringify(emu.send(packets)));
    expect(Buffer.compare(copy.snapshot(), emu.snapshot())).toBe(0);
  });

  it('dpemu check names a RegularExpression outside the supported syntax, with the field and why', () => {
    const { model } = loadManifests([...readManifestFiles([dir]), EXTRA]);
    const found = checkCluster(model).filter((d) => d.code === 'route-regex-unsupported');
    expect(found).toHaveLength(1);
    expect(found[0].message).toMatch(/HTTPRoute store\/regex: spec\.rules\[3\]\.matches\[0\]\.path\.value: RegularExpression "\/\(a\)\\\\1" is outside the supported syntax \(a backreference at offset 6\); this match never matches/);
  });
});
