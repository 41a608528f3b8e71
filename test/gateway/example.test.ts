import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readManifestFiles } from '../../src/k8s/files.js';
import { loadManifests } from '../../src/k8s/load.js';
import { checkCluster } from '../../src/k8s/check.js';
import { createTracer, traceLines, TraceRecord } from '../../src/trace.js';

const dir = 'examples/gateway';

describe('examples/gateway is what its README says', () => {
  it('each request meets the README row for it', async () => {
    const tracer = await createTracer(readManifestFiles([dir]), { backend: 'wasm' });
    const lines = readFileSync(`${dir}/packets.jsonl`, 'utf8').trim().split('\n');
    const out = traceLines(tracer, lines) as TraceRecord[];
    const rows = out.map((r) => [r.http?.status, r.http?.backend_service ?? r.http?.location ?? null]);
    expect(rows).toEqual([
      [200, 'store/store-v1:80'], [200, 'store/store-v2:80'], [301, 'http://shop.example.com/shop/item/7'],
      [503, 'store/search:8000'], [500, null], [404, null], [200, 'legacy/legacy:8080'], [404, null],
    ]);
    expect(out[1].http!.request.headers).toEqual({ version: 'two', 'x-canary': 'true' });
    // Routed requests go through the dataplane: DNATed to an endpoint of backend_service.
    expect(out[0]).toMatchObject({ verdict: 'FORWARDED', service: 'store/store-v1:http' });
    expect(out[0].backend).toMatch(/:8080$/);
    expect(out[6]).toMatchObject({ verdict: 'FORWARDED', service: 'legacy/legacy:http', backend: expect.stringMatching(/:80$/) });
    expect(out[5].verdict).toBe('ANSWERED_BY_PROXY');
  });
  it('check reports the two route problems the README names', () => {
    const { model } = loadManifests(readManifestFiles([dir]));
    const codes = checkCluster(model).filter((d) => d.object?.startsWith('HTTPRoute')).map((d) => `${d.object} ${d.code}`);
    expect(codes).toEqual(['HTTPRoute store/store route-RefNotPermitted', 'HTTPRoute legacy/sneaky route-NotAllowedByListeners']);
  });
});
