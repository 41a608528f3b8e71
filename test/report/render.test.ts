// The report's renderings: the terminal tables carry the figures (plain without colour, ANSI with it), and
// the HTML page is self-contained (no network: its chart library is inlined), carries the report's data and
// draws its charts in a real browser with every request refused.

import { describe, it, expect } from 'vitest';
import { createEmulator } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { RunCollector, runFinalOf } from '../../src/report/collector.js';
import { renderTerminal, useColor } from '../../src/report/render-terminal.js';
import { renderHtml } from '../../src/report/render-html.js';
import type { RunReport } from '../../src/report/types.js';
import { haveBrowser, launchChromium } from '../helpers/browser.js';

async function smallRun(): Promise<RunReport> {
  const emu = await createEmulator({ cluster: { files: readManifestFiles('test/report/fixtures/cluster.yaml') }, seed: 7 });
  const col = new RunCollector();
  col.noteCluster(emu.services(), emu.backends());
  const batch = emu.createBatch(200);
  let sport = 1000;
  for (let round = 0; round < 6; round++) {
    // 196 new connections to the web Service and 4 to the isolated db pod per round.
    for (let i = 0; i < 200; i++) {
      batch.set(i, i % 50 === 0 ? { src: '10.244.1.100', dst: '10.244.2.200', sport: sport++, dport: 5432 } : { src: '10.244.1.100', dst: '10.96.0.20', sport: sport++, dport: 80 });
    }
    emu.process(batch, 200);
    col.addBatch(batch, 200);
    emu.advance(0.5);
    col.sample(emu.now, emu.conntrack().length);
  }
  col.addDns({ client: '10.244.1.100', name: 'nosuch', type: 'A', queries: 4, rcode: 'NXDOMAIN', blocked: false });
  return col.finish(runFinalOf(emu, { wallMs: 300, generated: 1200, seed: 7, inputs: { cluster: 'test/report/fixtures/cluster.yaml' } }));
}

describe('renderTerminal', () => {
  it('prints the figures as tables, coloured only when asked', async () => {
    const report = await smallRun();
    const text = renderTerminal(report);
    expect(text).not.toMatch(/\x1b\[/);
    expect(text).toContain('1,200 packets (1,200 generated) over 3.00 s of virtual time');
    expect(text).toMatch(/│ FORWARDED\s+│\s+1,176 │\s+98\.0% │\s+1,176 │/);
    expect(text).toMatch(/│ DROPPED\s+│\s+24 │\s+2\.0% │\s+24 │/);
    expect(text).toMatch(/│ POLICY_DENIED\s+│\s+24 │\s+100\.0% │/);
    expect(text).toContain('dropped: ingress isolated by NetworkPolicy shop/db-ingress; no rule matched');
    const web = report.services[0];
    expect(text).toContain(`shop/web:http: 1,176 new flows, random; chi-square ${web.chiSquare!.statistic.toFixed(2)}, df 2`);
    for (const b of web.backends) expect(text).toMatch(new RegExp(`│ ${b.backend.replace(/\./g, '\\.')}\\s+│ ${b.pod}\\s+│ ${b.node}\\s+│\\s+1 │\\s+33\\.3% │\\s+${b.flows} │`));
    // 1,176 connections, and a second entry for those to a backend on another node (conntrack is per node).
    expect(report.conntrack.entries).toBeGreaterThanOrEqual(1176);
    expect(text).toContain(`${report.conntrack.entries.toLocaleString('en-US')} live entries of ${report.conntrack.capacity.toLocaleString('en-US')}`);
    expect(text).toContain('1 lookups, 4 queries (4.00 per lookup); 1 failed');
    const coloured = renderTerminal(report, { color: true });
    expect(coloured).toMatch(/\x1b\[/);
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(text);
  });

  it('colours a terminal only: not a pipe, not with NO_COLOR, not on a dumb terminal', () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({}, {})).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColor({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(useColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });
});

describe('renderHtml', () => {
  it('is one self-contained page carrying the report and its chart library', async () => {
    const report = await smallRun();
    const html = renderHtml(report);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i); // nothing fetched: no external scripts, styles or images
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain('uPlot'); // the library, inlined
    const data = html.match(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/)![1];
    expect(JSON.parse(data)).toEqual(report);
    expect(html).toContain('<td>dropped: ingress isolated by NetworkPolicy shop/db-ingress; no rule matched</td>');
    expect(html).toContain(`<td class="num">${report.services[0].backends[0].flows}</td>`);
    expect(html).toContain('1,200 packets');
    expect(renderHtml(report)).toBe(html); // the same report, the same bytes
  });

  it('keeps text that looks like markup inert', async () => {
    const report = await smallRun();
    report.run.inputs.cluster = '</script><script>alert(1)</script>';
    const html = renderHtml(report);
    expect(html).not.toContain('<script>alert(1)');
    const data = html.match(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/)![1];
    expect(JSON.parse(data).run.inputs.cluster).toBe('</script><script>alert(1)</script>');
  });

  it.runIf(haveBrowser)('draws its charts in a browser with the network refused', async () => {
    const html = renderHtml(await smallRun());
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
      await page.route('**/*', (r) => { problems.push(`request ${r.request().url()}`); return r.abort(); });
      await page.setContent(html);
      // Verdicts, timeline, drop reasons, the service's split, DNS: one uPlot canvas each.
      expect(await page.evaluate(() => document.querySelectorAll('.uplot canvas').length)).toBe(5);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
