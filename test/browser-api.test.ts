// The library API in a real browser, as a page with a plain <script type="module"> uses it: Debian's
// Chromium loads the package's browser entry (dist/src/index.js) from a local server; the entry fetches the
// core by URL; the page applies YAML text, sends a connection, checks verdicts and reverse NAT, forks the
// emulator with snapshot/restore and compares the fork's records. Both backends. Nothing on the path may
// need Node. Skipped without /usr/bin/chromium unless DPEMU_REQUIRE_BROWSER=1 (CI), where it fails instead.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { ensureBuilt } from './helpers/build.js';
import { serve, launchChromium, runPage, haveBrowser, CHROMIUM } from './helpers/browser.js';

interface Result {
  ok: boolean; error?: string; env: Record<string, string>;
  results: Record<'wasm' | 'reference', {
    objects: number; syn: unknown[]; reply: unknown[]; snapshotBytes: number; forkEqual: boolean; fork: string;
    counters: Record<string, number>; inputError: string | null; manifestError: string | null;
  }>;
}

describe('the library API in a browser', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  const requests: string[] = [], missing: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    server = await serve(['dist', 'build', 'test/browser', 'node_modules/yaml', 'node_modules/js-yaml'], 'test/browser/api.html', requests, missing);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  });

  if (!haveBrowser) console.warn(`browser API test skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);
  it.runIf(haveBrowser)('creates, applies YAML, sends, reverse-NATs, snapshots and restores in Chromium', async () => {
    browser = await launchChromium();
    const errors: string[] = [];
    const { result: r } = await runPage<Result>(browser, server!, errors);
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(errors).toEqual([]);
    expect(missing).toEqual([]);
    expect(r.env).toEqual({ process: 'undefined', Buffer: 'undefined', require: 'undefined' });
    const paths = requests.map((u) => new URL(u, 'http://x').pathname);
    expect(paths).toContain('/dist/src/index.js');
    expect(paths).toContain('/build/release.wasm'); // fetched by the entry itself
    expect(paths.filter((p) => p.includes('node:') || p === '/dist/src/node.js' || p === '/dist/src/index.node.js')).toEqual([]);
    for (const backend of ['wasm', 'reference'] as const) {
      const b = r.results[backend];
      expect(b.objects, backend).toBe(5);
      expect(b.syn, backend).toEqual(['FORWARDED', 'NEW', 8080, 'default/web:http', true]);
      expect(b.reply, backend).toEqual(['FORWARDED', 'REPLY', '10.96.0.80', 80]); // reverse NAT to the service address
      expect(b.forkEqual, backend).toBe(true);
      expect(b.inputError, backend).toBe('packets[0].dport');
      expect(b.manifestError, backend).toMatch(/^bad\.yaml: document 1 \(Service default\/x\): spec\.ports\[0\]\.port/);
    }
    expect(r.results.wasm.fork).toBe(r.results.reference.fork); // both backends, byte for byte
    expect(r.results.wasm.counters).toEqual(r.results.reference.counters);
  }, 120_000);
});
