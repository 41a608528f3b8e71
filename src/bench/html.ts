// The sweep's report page: self-contained HTML (no scripts, no external fonts or
// styles) with inline SVG charts. renderChart is a pure function of its points,
// so it is unit-tested on hand-made data (test/sweep.test.ts).

import type { SweepResult, SweepPoint } from './sweep-result.js';

export interface XY { x: number; y: number }
/** A measured line: drawn as one <path class="series"> with a marker per point. */
export interface ChartSeries { name: string; points: XY[]; color?: string }
/**
 * A reference line (the machine limit): horizontal at `y` across the whole plot (<line class="ceiling">),
 * or, when it varies along x, through `points` (<polyline class="ceiling">). Without a figure it draws nothing.
 */
export interface ChartCeiling { name: string; y?: number; points?: XY[]; color?: string; dash?: string }
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  ceilings?: ChartCeiling[];
  width?: number;
  height?: number;
  /**
   * Show x = 0 (a log axis has no zero): such points are drawn one decade below the smallest positive x,
   * at a tick labelled "0" (the policies dimension starts at no policy).
   */
  zeroX?: boolean;
}

export const PALETTE = ['#1f6fb4', '#d0402b', '#2a9d3a', '#8a4fbf', '#e08a00', '#7a5230', '#d4589c', '#3a9da8'];
const CEILING_STYLES = [{ color: '#444', dash: '8 5' }, { color: '#888', dash: '2 4' }, { color: '#666', dash: '12 3 2 3' }];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1000 -> 1k, 2500000 -> 2.5M. */
export function shortCount(x: number): string {
  const f = (v: number, unit: string) => `${Number(v.toPrecision(3))}${unit}`;
  if (x >= 1e9) return f(x / 1e9, 'G');
  if (x >= 1e6) return f(x / 1e6, 'M');
  if (x >= 1e3) return f(x / 1e3, 'k');
  return String(Number(x.toPrecision(3)));
}

const fix = (v: number) => (Math.round(v * 10) / 10).toString();

/** The ticks of a log axis over [lo, hi]: 1-2-5 (and 3) per decade, or decades only when that is too many. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 3, 5]) {
      const v = m * 10 ** k;
      if (v >= lo && v <= hi) out.push(Number(v.toPrecision(3)));
    }
  }
  if (out.length < 4) {
    // A narrow range (less than a decade): every integer multiple, so the axis still reads.
    const fine: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (let m = 1; m <= 9; m++) { const v = Number((m * 10 ** k).toPrecision(3)); if (v >= lo && v <= hi) fine.push(v); }
    }
    return fine;
  }
  if (out.length > 12) return out.filter((v) => Number.isInteger(Math.log10(v)) || Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
  return out;
}

/** An SVG line chart with log x and log y axes. Pure: the same spec gives the same string. */
export function renderChart(spec: ChartSpec): string {
  const W = spec.width ?? 860, H = spec.height ?? 440;
  const m = { left: 78, right: 250, top: 44, bottom: 58 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  let zeroAt = 0;
  if (spec.zeroX) {
    const pos = spec.series.flatMap((s) => s.points.map((p) => p.x)).filter((x) => x > 0);
    zeroAt = pos.length ? Math.min(...pos) / 10 : 1;
    spec = { ...spec, series: spec.series.map((s) => ({ ...s, points: s.points.map((p) => (p.x === 0 ? { x: zeroAt, y: p.y } : p)) })) };
  }
  const xText = (v: number) => (zeroAt && v === zeroAt ? '0' : shortCount(v));
  const series = spec.series.map((s) => ({ ...s, points: s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x) }));
  const ceilings = (spec.ceilings ?? []).filter((c) => (c.y !== undefined && c.y > 0 && Number.isFinite(c.y)) || (c.points?.some((p) => p.y > 0) ?? false))
    .map((c) => ({ ...c, points: c.points?.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x) }));

  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)).concat(ceilings.flatMap((c) => c.points?.map((p) => p.x) ?? [])))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).concat(ceilings.flatMap((c) => (c.points ? c.points.map((p) => p.y) : [c.y!])));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="${esc(spec.title)}">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.left}" y="24" font-size="15" font-weight="600" fill="#222">${esc(spec.title)}</text>`);
  if (!xs.length || !ys.length) {
    out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle" fill="#777">no data</text></svg>`);
    return out.join('\n');
  }

  // Domains in log10 space, padded so markers and lines stay off the frame.
  let [x0, x1] = [Math.log10(xs[0]), Math.log10(xs[xs.length - 1])];
  if (x1 - x0 < 1e-9) { x0 -= 0.5; x1 += 0.5; }
  const xpad = (x1 - x0) * 0.06; x0 -= xpad; x1 += xpad;
  let [y0, y1] = [Math.log10(Math.min(...ys)), Math.log10(Math.max(...ys))];
  y0 -= 0.18; y1 += 0.18;
  const sx = (x: number) => m.left + ((Math.log10(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;

  // Grid and axes.
  out.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">`);
  const yt = logTicks(10 ** y0, 10 ** y1);
  for (const v of yt) out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${fix(sy(v))}" y2="${fix(sy(v))}"/>`);
  for (const v of xs) out.push(`<line x1="${fix(sx(v))}" x2="${fix(sx(v))}" y1="${m.top}" y2="${m.top + ph}"/>`);
  out.push(`</g>`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<g class="y-ticks" fill="#333" text-anchor="end">`);
  for (const v of yt) out.push(`<text x="${m.left - 6}" y="${fix(sy(v) + 4)}">${esc(v.toLocaleString('en-US'))}</text>`);
  out.push(`</g><g class="x-ticks" fill="#333" text-anchor="middle">`);
  for (const v of xs) out.push(`<text x="${fix(sx(v))}" y="${m.top + ph + 17}">${esc(xText(v))}</text>`);
  out.push(`</g>`);
  out.push(`<text class="x-label" x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle" font-size="13" fill="#222">${esc(spec.xLabel)}</text>`);
  out.push(`<text class="y-label" transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13" fill="#222">${esc(spec.yLabel)}</text>`);

  // Ceilings under the series.
  ceilings.forEach((c, i) => {
    const st = CEILING_STYLES[i % CEILING_STYLES.length];
    const color = c.color ?? st.color, dash = c.dash ?? st.dash;
    const attrs = `class="ceiling" data-name="${esc(c.name)}" fill="none" stroke="${color}" stroke-width="1.6" stroke-dasharray="${dash}"`;
    if (c.points) out.push(`<polyline ${attrs} points="${c.points.map((p) => `${fix(sx(p.x))},${fix(sy(p.y))}`).join(' ')}"/>`);
    else out.push(`<line ${attrs} x1="${m.left}" x2="${m.left + pw}" y1="${fix(sy(c.y!))}" y2="${fix(sy(c.y!))}"/>`);
  });

  // Series.
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${fix(sx(p.x))} ${fix(sy(p.y))}`).join(' ');
    out.push(`<path class="series" data-name="${esc(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2.2" stroke-linejoin="round"/>`);
    for (const p of s.points) {
      out.push(`<circle data-x="${zeroAt && p.x === zeroAt ? 0 : p.x}" data-y="${p.y}" cx="${fix(sx(p.x))}" cy="${fix(sy(p.y))}" r="3.6" fill="${color}"><title>${esc(`${s.name}: ${xText(p.x)} -> ${p.y}`)}</title></circle>`);
    }
  });

  // Legend, right of the plot.
  const lx = m.left + pw + 18;
  let ly = m.top + 8;
  out.push(`<g class="legend" fill="#222">`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.2"/><circle cx="${lx + 13}" cy="${ly}" r="3.6" fill="${color}"/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${esc(s.name)}</text>`);
    ly += 20;
  });
  ceilings.forEach((c, i) => {
    const st = CEILING_STYLES[i % CEILING_STYLES.length];
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${c.color ?? st.color}" stroke-width="1.6" stroke-dasharray="${c.dash ?? st.dash}"/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${esc(c.name)}</text>`);
    ly += 20;
  });
  out.push(`</g></svg>`);
  return out.join('\n');
}

// ---------------------------------------------------------------- the page

const ns = (mpps: number | undefined) => (mpps && mpps > 0 ? Math.round((1e4 / mpps)) / 10 : undefined);

/** One series per measured design (in the sweep's order), over the points `keep` selects. */
function designSeries(r: SweepResult, keep: (p: SweepPoint) => boolean, x: (p: SweepPoint) => number, y: (p: SweepPoint) => number | undefined = (p) => p.ns_per_packet): ChartSeries[] {
  const out: ChartSeries[] = [];
  r.designs.forEach((d, i) => {
    const pts = r.points.filter((p) => p.design === d.name && keep(p));
    const xy = pts.flatMap((p) => { const v = y(p); return v === undefined ? [] : [{ x: x(p), y: v }]; });
    if (xy.length) out.push({ name: d.name, points: xy, color: PALETTE[i % PALETTE.length] });
  });
  return out;
}

/** The charts of the page, in order: one per scenario and flows value, the policies, the memory. */
export function sweepCharts(r: SweepResult): { id: string; spec: ChartSpec }[] {
  const n = (x: number) => x.toLocaleString('en-US');
  const charts: { id: string; spec: ChartSpec }[] = [];
  for (const sc of r.scenarios) {
    for (const f of r.flows) {
      const lim = r.limits.find((l) => l.flows === f && l.status === 'ok');
      charts.push({
        id: `${sc}-flows-${f}`,
        spec: {
          title: `${sc}: ns per packet against services (${n(f)} flows, ${r.backends} backends per service)`,
          xLabel: 'services (log scale)', yLabel: 'ns per packet, median (log scale)',
          series: designSeries(r, (p) => p.scenario === sc && p.flows === f && p.policies === 0, (p) => p.services),
          ceilings: lim ? [
            { name: 'limit wasm32 (fast path)', y: ns(lim.wasm32?.fast_mpps) },
            { name: 'limit native (fast path)', y: ns(lim.native?.fast_mpps) },
          ] : [],
        },
      });
    }
    if (r.policies.length) {
      const g = r.policy_grid;
      charts.push({
        id: `${sc}-policies`,
        spec: {
          title: `${sc}: ns per packet against policies (${n(g.services)} services, ${n(g.flows)} flows)`,
          xLabel: 'policies (log scale; 0: no endpoint isolated)', yLabel: 'ns per packet, median (log scale)', zeroX: true,
          series: designSeries(r, (p) => p.scenario === sc && p.services === g.services && p.flows === g.flows && r.policies.includes(p.policies), (p) => p.policies),
        },
      });
    }
  }
  const fMin = Math.min(...r.flows);
  charts.push({
    id: 'memory-per-service',
    spec: {
      title: 'memory: bytes per service (with its backends and their pods)',
      xLabel: 'services (log scale)', yLabel: 'bytes per service (log scale)',
      series: designSeries(r, (p) => p.scenario === r.scenarios[0] && p.flows === fMin && p.policies === 0, (p) => p.services, (p) => p.bytes_per_service),
    },
  });
  return charts;
}

export function renderSweepHtml(r: SweepResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const charts = sweepCharts(r);
  const cell = (v: unknown) => `<td>${v === undefined || v === null ? '–' : esc(typeof v === 'number' ? n(v) : String(v))}</td>`;
  const rows = r.points.map((p) => `<tr>${[p.design, p.scenario, p.services, p.flows, p.policies, p.mpps, p.ns_per_packet, p.ns_per_packet_p99,
    p.bytes_per_flow, p.bytes_per_service, p.runs_mpps.join(', ')].map(cell).join('')}</tr>`).join('\n');
  const skippedRows = r.skipped.map((s) => `<tr>${[s.design, s.scenario, s.services, s.flows, s.policies, s.reason].map(cell).join('')}</tr>`).join('\n');
  const limitRows = r.limits.map((l) => `<tr>${[n(l.flows), l.status, l.wasm32?.fast_mpps, ns(l.wasm32?.fast_mpps), l.wasm32?.warm_mpps,
    l.native?.fast_mpps, ns(l.native?.fast_mpps), l.native?.warm_mpps, l.error?.split('\n')[0]].map(cell).join('')}</tr>`).join('\n');
  const mc = r.machine;
  const designs = r.designs.map((d) => `<li><b>${esc(d.name)}</b>: ${esc(d.description)}${d.status === 'skipped' ? ` — <i>skipped: ${esc(d.note ?? '')}</i>` : ''}</li>`).join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>dpemu sweep: dataplane designs side by side</title>
<style>
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #222; margin: 24px 32px; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 26px 0 8px; }
p.meta { color: #555; margin: 4px 0; font-size: 13px; }
figure { margin: 16px 0; }
table { border-collapse: collapse; font-size: 12.5px; margin-top: 6px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
ul.notes, ul.designs { font-size: 12.5px; color: #444; padding-left: 18px; } ul.notes li { margin: 3px 0; }
</style></head>
<body>
<h1>Dataplane designs side by side</h1>
<p class="meta">${esc(mc.date)} · Node ${esc(mc.node)} · ${esc(mc.cpu)} × ${mc.cores} · ${esc(mc.platform)} · load average ${mc.loadavg_start.join(' ')} → ${mc.loadavg.join(' ')}</p>
<p class="meta">${r.repeats} run${r.repeats > 1 ? 's' : ''} per point · ${r.points.length} points in ${r.elapsed_s} s${r.quick ? ' · quick sizes' : ''}</p>
<ul class="designs">
${designs}
</ul>
${charts.map((c) => `<figure id="${esc(c.id)}" class="chart">${renderChart(c.spec)}</figure>`).join('\n')}
<h2>Points</h2>
<table>
<thead><tr><th>design</th><th>scenario</th><th>services</th><th>flows</th><th>policies</th><th>Mpps</th><th>ns/packet</th><th>p99 ns/packet</th><th>bytes/flow</th><th>bytes/service</th><th>runs, Mpps</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${r.skipped.length ? `<h2>Points not measured</h2>
<table>
<thead><tr><th>design</th><th>scenario</th><th>services</th><th>flows</th><th>policies</th><th>reason</th></tr></thead>
<tbody>
${skippedRows}
</tbody></table>` : ''}
<h2>Machine limit (the --limit script, 10,000 services × 10 backends)</h2>
${r.limits.length ? `<table>
<thead><tr><th>flows</th><th>status</th><th>wasm32 Mpps</th><th>wasm32 ns/packet</th><th>wasm32 warm Mpps</th><th>native Mpps</th><th>native ns/packet</th><th>native warm Mpps</th><th>error</th></tr></thead>
<tbody>
${limitRows}
</tbody></table>` : '<p class="meta">not measured (no limit script)</p>'}
<h2>Notes</h2>
<ul class="notes">
${r.notes.map((x) => `<li>${esc(x)}</li>`).join('\n')}
</ul>
</body></html>
`;
}
