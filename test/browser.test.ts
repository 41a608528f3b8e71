// The WASM dataplane in a real browser: Debian's Chromium, driven by
// playwright-core, loads the compiled ESM (dist/src) and build/release.wasm from
// a tiny static server and runs test/browser/page.js, which pushes traffic
// through the WASM core and the reference backend in lockstep (including a
// batch that grows the core's memory after an earlier batch was allocated).
// We check that both backends agree byte for byte, that the verdict counts are
// the expected ones, and that nothing on the browser path needs Node: no module
// in its import graph names a `node:` built-in (or any bare specifier), and the
// page never requests one, nor dist/src/node.js.
//
// Needs /usr/bin/chromium (apt-get install -y chromium). CI installs it and sets
// DPEMU_REQUIRE_BROWSER=1, so there a missing browser fails the test; elsewhere
// (a fresh machine running `npm test`) the browser test is skipped, saying why.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, Server } from 'node:http';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, Browser } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const WASM = join(ROOT, 'build', 'release.wasm');
/** What page.js imports: the roots of the browser path. */
const ENTRIES = ['wasm.js', 'reference/dataplane.js', 'controlplane/synthetic.js', 'traffic.js', 'packet.js']
  .map((f) => join(ROOT, 'dist', 'src', f));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listTs(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
}

/** src/**.ts whose dist/src/**.js is missing or older than the source. */
function staleOutputs(): string[] {
  return listTs(join(ROOT, 'src')).filter((ts) => {
    const js = join(ROOT, 'dist', relative(ROOT, ts)).replace(/\.ts$/, '.js');
    return !existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs;
  });
}

/** Run a command in the repo; its failure message (with output), or undefined if it succeeded. */
function run(cmd: string, args: string[]): string | undefined {
  try {
    execFileSync(cmd, args, { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
    return undefined;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return `${cmd} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`;
  }
}

/** Module specifiers in a compiled ESM file (static imports/exports and literal dynamic imports). */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const re = /\b(?:import|export)\s*(?:[^'"();]*?\bfrom\s*)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = re.exec(code)) !== null;) out.push(m[1] ?? m[2]);
  return out;
}

/** Every file reachable from the entries, with each file's specifiers. */
function importGraph(entries: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop()!;
    if (graph.has(f)) continue;
    const specs = specifiers(readFileSync(f, 'utf8'));
    graph.set(f, specs);
    for (const s of specs) if (s.startsWith('./') || s.startsWith('../')) todo.push(resolve(dirname(f), s));
  }
  return graph;
}

/** Static server for /dist, /build and /test/browser (index.html at /), logging every request. */
function serve(requests: string[], missing: string[]): Promise<Server> {
  const roots = ['dist', 'build', join('test', 'browser')].map((d) => join(ROOT, d) + sep);
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const path = decodeURIComponent(new URL(url, 'http://x').pathname);
    const file = path === '/' ? join(ROOT, 'test', 'browser', 'index.html') : resolve(ROOT, '.' + path);
    if (req.method !== 'GET' || !roots.some((r) => file.startsWith(r)) || !existsSync(file) || !statSync(file).isFile()) {
      missing.push(url);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', () => ok(server)));
}

interface Phase {
  name: string; packets: number; bytesCompared: number; inputsEqual: boolean; outputsEqual: boolean;
  firstDiff: unknown; forwardedReturned: { wasm: number; reference: number };
  verdicts: Record<'NONE' | 'FORWARDED' | 'DROPPED' | 'REJECTED', number>;
  countersEqual: boolean; ctCount: { wasm: number; reference: number };
}
interface PageResult {
  ok: boolean; error?: string;
  env: Record<string, string>;
  growth: {
    bytesBefore: number; bytesAfter: number; oldBufferDetached: boolean; firstBatchPtr: number; bigBatchPtr: number;
    firstBatchSurvived: boolean; firstBatchOnNewBuffer: boolean;
  };
  phases: Phase[]; expectedRejected: number; totalPackets: number;
  counters: { wasm: { verdicts: Record<string, number>; drops: Record<string, number>; packets: number }; reference: unknown };
  rawCounters: { wasm: string[]; reference: string[] };
}

describe('browser', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  const requests: string[] = [];
  const missing: string[] = [];

  beforeAll(async () => {
    if (!existsSync(WASM)) {
      const failed = run('npx', ['asc', 'assembly/index.ts', '--target', 'release']);
      if (failed) throw new Error(failed);
    }
    if (staleOutputs().length > 0) {
      // tsc emits even when some file has a type error (that is `npm run typecheck`'s
      // business); what this test needs is fresh JavaScript for every source.
      const failed = run('npx', ['tsc', '-p', 'tsconfig.build.json']);
      const stale = staleOutputs();
      if (stale.length) throw new Error(`dist/ still stale (${stale.map((f) => relative(ROOT, f)).join(', ')})\n${failed ?? ''}`);
      if (failed) console.warn(failed);
    }
    server = await serve(requests, missing);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  });

  it('the browser path imports no Node built-ins (static import graph of dist/src)', () => {
    const graph = importGraph(ENTRIES);
    const files = [...graph.keys()].map((f) => relative(join(ROOT, 'dist', 'src'), f)).sort();
    expect(files).toContain('wasm.js');
    expect(files).toContain('common/regions.js');
    expect(files).not.toContain('node.js');
    for (const [file, specs] of graph) {
      for (const s of specs) {
        // Only relative specifiers: no node:*, no bare packages (a browser without an import map can't resolve them).
        expect(s, `${relative(ROOT, file)} imports ${s}`).toMatch(/^\.\.?\//);
      }
    }
  });

  const haveBrowser = existsSync(CHROMIUM) || process.env.DPEMU_REQUIRE_BROWSER === '1';
  if (!haveBrowser) console.warn(`browser test skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);
  it.runIf(haveBrowser)('loads and runs in Chromium, agreeing with the reference backend byte for byte', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: install Debian's chromium: apt-get install -y chromium`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    // Any error on the page fails the test, and at once: a module that fails to load
    // (say, one importing node:fs) would otherwise just leave __result unset.
    const errors: string[] = [];
    let abort: (e: Error) => void = () => {};
    const aborted = new Promise<never>((_, reject) => { abort = reject; });
    aborted.catch(() => {});
    const note = (e: string) => { errors.push(e); abort(new Error(`error on the page: ${e}`)); };
    page.on('console', (m) => { if (m.type() === 'error') note(`console: ${m.text()} (${m.location().url})`); });
    page.on('pageerror', (e) => note(`pageerror: ${e.stack ?? e.message}`));
    page.on('requestfailed', (r) => note(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));

    const { port } = server!.address() as AddressInfo;
    await Promise.race([page.goto(`http://127.0.0.1:${port}/`), aborted]);
    await Promise.race([
      page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, null, { timeout: 60_000 }),
      aborted,
    ]);
    const r = await page.evaluate(() => (globalThis as unknown as { __result: PageResult }).__result);
    if (process.env.DPEMU_BROWSER_DEBUG) console.log(JSON.stringify({ ...r, requests }, null, 1));

    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(missing).toEqual([]);
    expect(errors).toEqual([]);

    // No Node anywhere on the path.
    expect(r.env).toMatchObject({ process: 'undefined', require: 'undefined', Buffer: 'undefined', global: 'undefined', module: 'undefined' });
    const paths = requests.map((u) => new URL(u, 'http://x').pathname);
    expect(paths.filter((p) => p.includes('node:') || p === '/dist/src/node.js')).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['/dist/src/wasm.js', '/dist/src/reference/dataplane.js',
      '/dist/src/controlplane/synthetic.js', '/dist/src/traffic.js', '/build/release.wasm']));
    // Every module the browser fetched is in the static graph checked above.
    const graph = [...importGraph(ENTRIES).keys()].map((f) => '/' + relative(ROOT, f).split(sep).join('/'));
    expect(paths.filter((p) => p.endsWith('.js') && p !== '/test/browser/page.js').sort()).toEqual(graph.sort());

    // Memory grew after the first batch was allocated; its views followed.
    expect(r.growth.bytesAfter).toBeGreaterThan(r.growth.bytesBefore);
    expect(r.growth.oldBufferDetached).toBe(true);
    expect(r.growth.bigBatchPtr).toBeGreaterThan(r.growth.firstBatchPtr);
    expect(r.growth.firstBatchSurvived).toBe(true);
    expect(r.growth.firstBatchOnNewBuffer).toBe(true);

    // Both backends agree on every byte, every return value and every counter, phase by phase.
    expect(r.phases.map((p) => p.name)).toEqual(['syn', 'ack', 'big-ack', 'reuse-after-growth', 'syn-empty-service']);
    for (const p of r.phases) {
      expect(p.inputsEqual, p.name).toBe(true);
      expect(p.firstDiff, p.name).toBeNull();
      expect(p.outputsEqual, p.name).toBe(true);
      expect(p.bytesCompared, p.name).toBe(p.packets * 48);
      expect(p.forwardedReturned.wasm, p.name).toBe(p.forwardedReturned.reference);
      expect(p.forwardedReturned.wasm, p.name).toBe(p.verdicts.FORWARDED);
      expect(p.countersEqual, p.name).toBe(true);
      expect(p.ctCount.wasm, p.name).toBe(p.ctCount.reference);
    }
    expect(r.rawCounters.wasm).toEqual(r.rawCounters.reference);
    expect(r.counters.wasm).toEqual(r.counters.reference);

    // Expected verdicts: everything forwarded except new connections to the emptied service.
    const [syn, ack, big, reuse, empty] = r.phases;
    for (const p of [syn, ack, big, reuse]) expect(p.verdicts, p.name).toEqual({ NONE: 0, FORWARDED: p.packets, DROPPED: 0, REJECTED: 0 });
    expect(big.packets).toBe(200_000);
    expect(r.expectedRejected).toBeGreaterThan(0);
    expect(empty.verdicts).toEqual({ NONE: 0, FORWARDED: empty.packets - r.expectedRejected, DROPPED: 0, REJECTED: r.expectedRejected });
    expect(r.counters.wasm.verdicts).toEqual({
      FORWARDED: r.totalPackets - r.expectedRejected, DROPPED: 0, REJECTED: r.expectedRejected,
    });
    expect(r.counters.wasm.packets).toBe(r.totalPackets);
  }, 120_000);
});
