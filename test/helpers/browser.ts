// Debian's Chromium driven by playwright-core for the browser tests: a static server for parts of the
// repo, the browser launched headless, and every error on the page turned into a failure.

import { createServer, Server } from 'node:http';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, Browser, Page } from 'playwright-core';
import { ROOT } from './build.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether the browser tests run: Chromium is there, or CI requires it (then its absence fails them). */
export const haveBrowser = existsSync(CHROMIUM) || process.env.DPEMU_REQUIRE_BROWSER === '1';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.yaml': 'text/yaml; charset=utf-8',
};

/** Serve the repo folders `roots` (and `index` at /), logging every request and every miss. */
export function serve(roots: string[], index: string, requests: string[], missing: string[]): Promise<Server> {
  const allowed = roots.map((d) => join(ROOT, d) + sep);
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const path = decodeURIComponent(new URL(url, 'http://x').pathname);
    const file = path === '/' ? join(ROOT, index) : resolve(ROOT, '.' + path);
    if (req.method !== 'GET' || !allowed.some((r) => file.startsWith(r)) || !existsSync(file) || !statSync(file).isFile()) {
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

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Open `/` of `server` and wait for the page to set window.__result; any error on the page (a module that
 * fails to load, an exception, a failed request) fails at once with what it was.
 */
export async function runPage<T>(browser: Browser, server: Server, errors: string[] = []): Promise<{ page: Page; result: T }> {
  const page = await browser.newPage();
  let abort: (e: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => { abort = reject; });
  aborted.catch(() => {});
  const note = (e: string) => { errors.push(e); abort(new Error(`error on the page: ${e}`)); };
  page.on('console', (m) => { if (m.type() === 'error') note(`console: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => note(`pageerror: ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => note(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  const { port } = server.address() as AddressInfo;
  await Promise.race([page.goto(`http://127.0.0.1:${port}/`), aborted]);
  await Promise.race([
    page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, null, { timeout: 60_000 }),
    aborted,
  ]);
  const result = await page.evaluate(() => (globalThis as unknown as { __result: unknown }).__result) as T;
  return { page, result };
}
