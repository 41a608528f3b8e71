// bench --sweep: the files it writes and what they hold (tiny sizes; no timing assertions), the statistics
// and the chart code on hand-made data.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { median, percentile } from '../src/bench/stats.js';
import { runSweep, writeSweep, formatSweep, projectRunSeconds, pointPlan, CSV_COLUMNS, SweepConfig, SweepResult } from '../src/bench/sweep.js';
import { renderChart, sweepCharts } from '../src/bench/html.js';
import { runGrowth, formatGrowth } from '../src/bench/growth.js';
import { DESIGN_NAMES } from '../src/dataplane.js';

describe('statistics', () => {
  it('median: the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('percentile: nearest rank (the smallest value with at least p% at or below it)', () => {
    const xs = Array.from({ length: 200 }, (_, i) => 200 - i); // 1..200, shuffled order
    expect(percentile(xs, 99)).toBe(198);
    expect(percentile(xs, 50)).toBe(100);
    expect(percentile(xs, 100)).toBe(200);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([3, 1, 2], 99)).toBe(3); // fewer than 100 values: the largest
    expect(percentile([10, 20, 30, 40], 25)).toBe(10);
    expect(percentile([10, 20, 30, 40], 26)).toBe(20);
    expect(percentile([], 99)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('projects a point from the same design at smaller clusters: log-log slope of the last two sizes', () => {
    // Flat (hash) design: 1000 ns at 100 and 1000 services -> 1000 ns at 100,000.
    expect(projectRunSeconds([{ services: 100, warmNs: 1000 }, { services: 1000, warmNs: 1000 }], 100_000, 1_000_000, 'fastpath', 0, 0)).toBeCloseTo(1, 6);
    // Linear design: 10x the services, 10x the cost.
    expect(projectRunSeconds([{ services: 100, warmNs: 1000 }, { services: 1000, warmNs: 10_000 }], 10_000, 1_000_000, 'fastpath', 0, 0)).toBeCloseTo(100, 6);
    // newflow opens every flow with a SYN and an ACK, and its rounds are new flows.
    expect(projectRunSeconds([{ services: 100, warmNs: 1000 }], 100, 1000, 'newflow', 500, 2)).toBeCloseTo((2 * 1000 + 2 * 500) * 1000 / 1e9, 9);
    expect(projectRunSeconds([{ services: 1000, warmNs: 1000 }], 100, 1000, 'newflow', 1, 1)).toBeUndefined();
  });

  it('caps the packets of iptables as its services grow, never its services', () => {
    expect(pointPlan('newflow', 100_000, 1_000_000, false, 'ebpf').packets).toBe(1 << 16);
    expect(pointPlan('newflow', 100_000, 1_000_000, false, 'iptables').packets).toBe(1024);
    expect(pointPlan('newflow', 100, 10_000, false, 'iptables').packets).toBe(1 << 15);
  });
});

describe('renderChart', () => {
  it('one path per series, a marker per point, ceilings as dashed lines, x = 0 drawn on a log axis', () => {
    const svg = renderChart({
      title: 't', xLabel: 'x', yLabel: 'y', zeroX: true,
      series: [{ name: 'a', points: [{ x: 0, y: 5 }, { x: 10, y: 6 }, { x: 100, y: 7 }] }, { name: 'b<&>', points: [{ x: 10, y: 50 }] }],
      ceilings: [{ name: 'limit', y: 3 }, { name: 'none' }],
    });
    expect(svg.match(/<path class="series"/g)).toHaveLength(2);
    expect(svg.match(/<circle data-x/g)).toHaveLength(4);
    expect(svg).toContain('data-x="0"');
    expect(svg).toMatch(/<text x="[\d.]+" y="[\d.]+">0<\/text>/);
    expect(svg.match(/class="ceiling"/g)).toHaveLength(1);
    expect(svg).toContain('b&lt;&amp;&gt;');
    expect(svg).not.toContain('<script');
  });
});

const tiny: SweepConfig = {
  services: [3, 6], flows: [200, 400], scenarios: ['newflow', 'fastpath'], policies: [0, 2], policyServices: 3, policyFlows: 200,
  backends: 2, repeats: 2, rounds: 2, packets: 128, seed: 1,
};

/** A stand-in for ../shared/limit/run printing its two JSON lines (or failing). */
function fakeLimit(dir: string, ok: boolean): string {
  const p = join(dir, ok ? 'limit-ok' : 'limit-bad');
  writeFileSync(p, ok
    ? `echo '{"impl":"native","flows":'$1',"warm_pkts":1,"warm_slow":0,"warm_mpps":20,"fast_pkts":1,"fast_slow":0,"fast_mpps":25}'\n` +
      `echo '{"impl":"wasm","flows":'$1',"warm_pkts":1,"warm_slow":0,"warm_mpps":10,"fast_pkts":1,"fast_slow":0,"fast_mpps":12.5}'\n`
    : 'echo "limit: gcc not found" >&2\nexit 3\n');
  chmodSync(p, 0o755);
  return p;
}

function parseCsv(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split('\n');
  const cols = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
}

describe('bench --sweep (tiny)', () => {
  let result: SweepResult;
  const dir = mkdtempSync(join(tmpdir(), 'dpemu-sweep-'));

  it('writes JSON, CSV and HTML with a point per design x scenario x services x flows, and the policies dimension', async () => {
    result = await runSweep({ ...tiny, limitPath: fakeLimit(dir, true) });
    const files = writeSweep(result, dir);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as SweepResult;
    expect(json).toEqual(JSON.parse(JSON.stringify(result)));
    const measured = json.designs.filter((d) => d.status === 'measured').map((d) => d.name);
    expect(measured).toContain('ebpf');
    expect(json.designs.map((d) => d.name)).toEqual([...DESIGN_NAMES]);
    // Main grid (no policies) plus the policies dimension (2 policies at 3 services x 200 flows).
    expect(json.points).toHaveLength(measured.length * 2 * (2 * 2 + 1));
    for (const p of json.points) {
      expect(p.ns_per_packet).toBeGreaterThan(0);
      expect(p.ns_per_packet_p99).toBeGreaterThanOrEqual(p.ns_per_packet);
      expect(p.mpps).toBeCloseTo(1000 / p.ns_per_packet, 0);
      expect(p.runs_mpps).toHaveLength(2);
      expect(p.bytes_per_flow).toBeGreaterThan(0);
      expect(p.bytes_per_service).toBeGreaterThan(0);
      expect(p.repeats).toBe(2);
    }
    expect(json.points.filter((p) => p.policies === 2).map((p) => [p.scenario, p.services, p.flows]).sort())
      .toEqual(measured.flatMap(() => [['fastpath', 3, 200], ['newflow', 3, 200]]).sort());
    for (const d of json.designs.filter((x) => x.status === 'skipped')) {
      expect(d.note).toBeTruthy();
      expect(json.points.some((p) => p.design === d.name)).toBe(false);
      expect(json.notes.join('\n')).toContain(`design ${d.name}: skipped`);
    }

    // CSV: one row per point, same figures.
    const rows = parseCsv(readFileSync(files.csv, 'utf8'));
    expect(Object.keys(rows[0])).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(json.points.length);
    rows.forEach((row, i) => {
      const p = json.points[i];
      for (const c of ['design', 'scenario'] as const) expect(row[c]).toBe(p[c]);
      for (const c of ['services', 'flows', 'policies', 'mpps', 'ns_per_packet', 'ns_per_packet_p99', 'bytes_per_flow', 'bytes_per_service'] as const) expect(Number(row[c])).toBe(p[c]);
      expect(Number(row.limit_wasm32_mpps)).toBe(12.5);
      expect(Number(row.limit_native_mpps)).toBe(25);
    });

    // HTML: a chart per scenario and flows value, one per scenario for policies, the memory chart.
    const html = readFileSync(files.html, 'utf8');
    expect(html).not.toMatch(/<script|<link|(src|href)="https?:/); // self-contained: no scripts, no external resources
    for (const sc of ['newflow', 'fastpath']) {
      for (const f of [200, 400]) {
        const fig = html.match(new RegExp(`<figure id="${sc}-flows-${f}" class="chart">([\\s\\S]*?)</figure>`))![1];
        for (const d of measured) expect(fig).toContain(`<path class="series" data-name="${d}"`);
        expect(fig.match(/<path class="series"/g)).toHaveLength(measured.length);
        // The limit as the ceiling: 1000 / 12.5 = 80 ns (wasm32), 40 ns (native).
        expect(fig.match(/class="ceiling"/g)).toHaveLength(2);
        expect(fig).toContain('limit wasm32');
      }
      expect(html).toContain(`<figure id="${sc}-policies" class="chart">`);
    }
    expect(html).toContain('<figure id="memory-per-service" class="chart">');
    expect(sweepCharts(json)).toHaveLength(2 * 2 + 2 + 1);
    expect(formatSweep(json)).toContain('limit at 200 flows: wasm32 12.5 Mpps (80.0 ns/pkt), native 25 Mpps (40.0 ns/pkt)');
  });

  it('a limit script that fails is reported, not fatal; no ceiling is drawn', async () => {
    const r = await runSweep({ ...tiny, services: [3], flows: [200], policies: [], repeats: 1, limitPath: fakeLimit(dir, false) });
    expect(r.limits).toEqual([expect.objectContaining({ flows: 200, status: 'failed', error: expect.stringContaining('gcc not found') })]);
    expect(r.points.length).toBeGreaterThan(0);
    const out = writeSweep(r, join(dir, 'failed'));
    const html = readFileSync(out.html, 'utf8');
    expect(html).not.toContain('class="ceiling"');
    expect(html).toContain('gcc not found');
    expect(formatSweep(r)).toContain('limit at 200 flows: failed: exit 3');
  });

  it('a missing limit script means no ceiling, with a note', async () => {
    const r = await runSweep({ ...tiny, services: [3], flows: [200], policies: [], scenarios: ['fastpath'], repeats: 1, limitPath: join(dir, 'nope') });
    expect(r.limits).toEqual([]);
    expect(r.notes.join('\n')).toContain('not found, no ceiling');
  });

  it('points projected over the budget are skipped with the reason, the rest measured', async () => {
    const r = await runSweep({ ...tiny, designs: ['ebpf'], services: [3, 6], flows: [200], policies: [], scenarios: ['fastpath'], repeats: 1, limitPath: null, pointBudgetS: 1e-9 });
    expect(r.points.map((p) => p.services)).toEqual([3]);
    expect(r.skipped).toEqual([expect.objectContaining({ design: 'ebpf', services: 6, reason: expect.stringContaining('over the point budget') })]);
    expect(r.notes.join('\n')).toContain('point ebpf fastpath 6 services 200 flows 0 policies: skipped');
  });

  it('refuses what it cannot measure, with a clear message', async () => {
    await expect(runSweep({ ...tiny, designs: ['bpfilter'], limitPath: null })).rejects.toThrow(/unknown design "bpfilter"; known designs: ebpf, iptables, ipvs, nftables/);
    await expect(runSweep({ ...tiny, services: [0], limitPath: null })).rejects.toThrow(/services: 0 is not an integer >= 1/);
  });
});

describe('dpemu bench alone: the whole suite', () => {
  const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'bench', ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });

  it('--quick --json runs the micro benchmarks, the control plane and the sweep, and writes the sweep files', () => {
    const out = mkdtempSync(join(tmpdir(), 'dpemu-suite-'));
    const r = run(['--quick', '--json', '-q', '--out', out, '--designs', 'ebpf,iptables']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.micro.rows.map((t: { name: string }) => t.name)).toContain('conntrack hit');
    expect(j.control_plane).toMatchObject({ control_plane: true, compile: { target_ms: 1000 }, endpoint_change: { target_us: 100 } });
    expect(j.sweep.designs.map((d: { name: string }) => d.name)).toEqual(['ebpf', 'iptables']);
    expect(j.growth.rows.map((r: { design: string }) => r.design)).toEqual(['ebpf', 'iptables']);
    for (const f of ['sweep.json', 'sweep.csv', 'sweep.html']) expect(readFileSync(join(out, f), 'utf8').length).toBeGreaterThan(100);
  }, 120_000);

  it('--all refuses the options of a single run', () => {
    const r = run(['--all', '--scenario', 'newflow']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--all runs the whole suite with its own sizes; drop --scenario');
  });
});

describe('bench --growth (tiny)', () => {
  it('measures every size per design with rounds taking turns; the target applies to the hash designs only', async () => {
    const r = await runGrowth({ designs: ['ebpf', 'iptables'], sizes: [3, 10, 30], flows: 200, packets: 64, rounds: 3 });
    expect(r.rows.map((x) => [x.design, x.from_services, x.to_services, x.target])).toEqual([['ebpf', 3, 30, 1.5], ['iptables', 3, 30, null]]);
    for (const x of r.rows) {
      expect(x.results.map((y) => [y.scenario, y.design, y.services, y.rounds, y.packets])).toEqual([3, 10, 30].map((s) => ['newflow', x.design, s, 3, 64]));
      expect(x.ns).toEqual(x.results.map((y) => y.ns_per_packet));
      expect(x.ratio).toBeCloseTo(x.to_ns / x.from_ns, 1);
      expect(x.pair_ratios).toHaveLength(3);
    }
    expect(r.rows[0].pass).toBe(r.rows[0].ratio <= 1.5);
    expect(r.rows[1].pass).toBeNull();
    expect(formatGrowth(r)).toContain('linear expected');
    await expect(runGrowth({ sizes: [100, 100] })).rejects.toThrow(/100 services is not below 100/);
  });
});
