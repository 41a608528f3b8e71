// The report as one self-contained HTML page: the figures as tables, and charts drawn by uPlot (a small,
// well-kept canvas chart library), whose script and stylesheet are read from node_modules when the page is
// made and inlined into it — the page needs no network when it is opened. The report itself is embedded as
// JSON (so the page also carries the data: `document.getElementById('report-data')`).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RunReport, ServiceDistribution } from './types.js';
import { count, fitVerdict, pValue, percent, rate, seconds } from './format.js';

let uplotAssets: { js: string; css: string } | undefined;

/** uPlot's browser build and stylesheet, as installed with dpemu. */
function uplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const require = createRequire(import.meta.url);
    uplotAssets = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return uplotAssets;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON that is safe inside a <script> element (no "</script>", no "<!--"). */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** An inline script's text, safe inside <script> whatever it contains. */
const scriptText = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1');

function table(head: string[], rows: string[][], numeric: boolean[] = head.map((_, i) => i > 0)): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((v, i) => `<td${numeric[i] ? ' class="num"' : ''}>${esc(v)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function serviceSection(s: ServiceDistribution, i: number): string {
  const where = s.scope === 'any' ? '' : ` [${s.scope} entry of ${s.node}]`;
  const period = s.from === null && s.to === null ? '' : ` from ${s.from === null ? 'the start' : `${s.from} s`} to ${s.to === null ? 'the end' : `${s.to} s`}`;
  const fit = fitVerdict(s.chiSquare);
  const test = s.chiSquare
    ? `chi-square ${s.chiSquare.statistic.toFixed(2)}, df ${s.chiSquare.df}, p ${pValue(s.chiSquare.pValue)}${fit ? ` (${fit})` : ''}`
    : 'one backend';
  return `<section class="service"><h3>${esc(s.service)}${esc(where)}${esc(period)}</h3>
<p>${count(s.flows)} new flows, ${esc(s.algorithm)}; <span class="fit-${fit?.replace(/ /g, '-') ?? 'none'}">${esc(test)}</span></p>
<div class="chart" id="service-${i}"></div>
${table(['backend', 'pod', 'node', 'weight', 'expected', 'flows', 'share'],
    s.backends.map((b) => [b.backend, b.pod ?? '-', b.node ?? '-', String(b.weight), percent(b.expectedShare), count(b.flows), percent(b.share)]),
    [false, false, false, true, true, true, true])}
</section>`;
}

/** The page. Pure given the installed uPlot: the same report gives the same bytes. */
export function renderHtml(report: RunReport, options: { title?: string; maxServices?: number } = {}): string {
  const { js, css } = uplot();
  const r = report.run;
  const title = options.title ?? 'dpemu run report';
  const maxServices = options.maxServices ?? 50;
  const services = [...report.services].sort((a, b) => b.flows - a.flows).slice(0, maxServices);
  const totalPackets = Object.values(report.packets.byVerdict).reduce((a, b) => a + b, 0);
  const k = report.conntrack, n = report.nat;
  const what = [r.design && `design ${r.design}`, r.backend && `${r.backend} backend`, r.seed !== null && `seed ${r.seed}`].filter(Boolean).join(', ');

  const parts: string[] = [];
  parts.push(`<h1>${esc(title)}</h1>
<p>${esc(what)}${Object.entries(r.inputs).map(([key, v]) => `<br>${esc(key)}: <code>${esc(v)}</code>`).join('')}</p>
<p class="headline">${count(r.processed)} packets (${count(r.generated)} generated) over ${esc(seconds(r.virtualSeconds))} of virtual time, in ${esc(seconds(r.wallMs / 1000))}: <b>${esc(rate(r.packetsPerSecond))} packets/s</b></p>`);

  parts.push(`<h2>Packets and flows</h2>
<div class="row"><div class="chart" id="verdicts"></div><div class="chart" id="timeline"></div></div>
${table(['verdict', 'packets', 'share', 'flows', 'share'], Object.keys(report.packets.byVerdict).map((v) => {
    const p = report.packets.byVerdict[v], f = report.flows.byVerdict[v] ?? 0;
    return [v, count(p), percent(totalPackets ? p / totalPackets : 0), count(f), percent(report.flows.total ? f / report.flows.total : 0)];
  }))}
<p>conntrack state of the packets: ${esc(Object.entries(report.packets.byCtState).filter(([, x]) => x > 0).map(([s, x]) => `${s} ${count(x)}`).join(', ') || 'none')};
translated: ${esc(Object.entries(report.packets.nat).filter(([, x]) => x > 0).map(([s, x]) => `${s} ${count(x)}`).join(', ') || 'none')}</p>`);

  const tr = report.traffic;
  if (tr) {
    parts.push(`<h2>Connections by traffic entry</h2>
${table(['from → to', 'proto', 'opened', 'completed', 'failed', 'failed at', 'DNS lookups', 'queries each', 'DNS failed'], tr.entries.map((e) => [
    `${e.from} → ${e.to.join(', ')}`, e.proto, count(e.opened), count(e.completed), count(e.failed),
    Object.entries(e.failedAt).filter(([, x]) => x > 0).map(([s, x]) => `${s} ${count(x)}`).join(', '),
    e.dns.lookups ? count(e.dns.lookups) : '', e.dns.lookups ? (e.dns.queries / e.dns.lookups).toFixed(2) : '', e.dns.lookups ? count(e.dns.failed) : '']),
  [false, false, true, true, true, false, true, true, true])}
${tr.changes.length ? `<p>${tr.changes.map((ch) => `at ${esc(seconds(ch.at))}: ${esc(ch.what)}`).join('<br>')}</p>` : ''}
${tr.notes.length ? `<p class="notes">${tr.notes.map((n) => `note: ${esc(n)}`).join('<br>')}</p>` : ''}`);
  }

  if (report.drops.length) {
    parts.push(`<h2>Drop reasons</h2><div class="chart" id="drops"></div>
${table(['reason', 'packets', 'share'], report.drops.map((d) => [d.reason, count(d.packets), percent(d.share)]))}`);
  }
  if (report.policy.byRule.length) {
    parts.push(`<h2>Policy drops by rule</h2><p>${count(report.policy.drops)} packets dropped by policy.</p>
${table(['rule', 'direction', 'packets'], report.policy.byRule.map((p) => [p.text, p.direction ?? '-', count(p.packets)]), [false, false, true])}`);
  }
  if (services.length) {
    parts.push(`<h2>Backend distribution of new flows</h2>
<p>Bars: the share of new flows each backend received; marks: the share its weight promises. The chi-square test asks whether the
difference is chance (p below 0.001: skewed).${report.services.length > services.length ? ` The ${services.length} busiest of ${report.services.length} service entries are shown; the embedded JSON has them all.` : ''}</p>
${services.map(serviceSection).join('\n')}`);
  }
  parts.push(`<h2>Conntrack</h2>
<p>${count(k.entries)} live entries of ${count(k.capacity)} (${percent(k.occupancy)} full); created ${count(k.created)}, evicted ${count(k.evicted)}, expired ${count(k.expired)}${k.affinityEvicted ? `, affinity evicted ${count(k.affinityEvicted)}` : ''}.</p>
${k.entries ? table(['state', 'entries'], Object.entries(k.byState).map(([s, x]) => [s, count(x)])) : ''}`);
  parts.push(`<h2>NAT</h2>
<p>${count(n.dnatFlows)} live flows with a translated destination, ${count(n.snatFlows)} masqueraded; port range ${n.portRange.min}-${n.portRange.max} (${count(n.portRange.size)} ports)${n.noPortDrops ? `; ${count(n.noPortDrops)} packets dropped for want of a port` : ''}.</p>
${n.addresses.length ? table(['masquerade address', 'proto', 'ports in use', 'of range', 'flows'], n.addresses.map((a) => [a.address, a.proto, count(a.portsInUse), percent(a.share), count(a.flows)]), [false, false, true, true, true]) : ''}`);
  if (report.dns) {
    const d = report.dns;
    parts.push(`<h2>DNS</h2>
<p>${count(d.lookups)} lookups, ${count(d.queries)} queries (${d.queriesPerLookup.toFixed(2)} per lookup); ${count(d.failed)} failed${d.blocked ? `, ${count(d.blocked)} blocked by policy` : ''}.</p>
<div class="chart" id="dns"></div>
${table(['answer', 'lookups'], Object.entries(d.byRcode).map(([c, x]) => [c, count(x)]))}
${d.failures.length ? table(['name', 'type', 'answer', 'lookups', 'clients'], d.failures.map((f) => [f.name, f.type, f.rcode, count(f.lookups), count(f.clients)]), [false, false, false, true, true]) : ''}`);
  }

  const chartData = { services: services.map((s) => ({ names: s.backends.map((b) => b.pod?.replace(/^[^/]*\//, '') ?? b.backend), share: s.backends.map((b) => b.share), expected: s.backends.map((b) => b.expectedShare) })) };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f4f4f4; }
.row { display: flex; flex-wrap: wrap; gap: 1em; } .chart { min-height: 10px; }
.fit-skewed { color: #c0392b; font-weight: bold; } .fit-fits { color: #2a7d3a; } .fit-too-few-flows { color: #b7791f; }
.headline { font-size: 1.1em; } code { background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
${parts.join('\n')}
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script type="application/json" id="chart-data">${scriptJson(chartData)}</script>
<script>${scriptText(js)}</script>
<script>${scriptText(PAGE_SCRIPT)}</script>
</body>
</html>
`;
}

/** The page's own script: the charts, from the embedded JSON. */
const PAGE_SCRIPT = `
(function () {
  if (typeof uPlot === 'undefined') return;
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var charts = JSON.parse(document.getElementById('chart-data').textContent);
  var COLORS = { FORWARDED: '#2a9d3a', DROPPED: '#d0402b', REJECTED: '#e08a00', OTHER: '#888' };
  function el(id) { return document.getElementById(id); }
  function bars(id, title, names, series, opts) {
    var target = el(id);
    if (!target || names.length === 0) return;
    var xs = names.map(function (_, i) { return i; });
    var n = series.length;
    var longest = names.reduce(function (m, s) { return Math.max(m, String(s).length); }, 0);
    var per = Math.max(70, 7 * longest + 16) * (opts && opts.grouped ? 1.5 : 1);
    var width = Math.max(360, Math.min(1040, 120 + names.length * per));
    var ser = [{}];
    series.forEach(function (s, k) {
      var bar = !s.marks;
      ser.push({
        label: s.label, stroke: s.color, fill: bar ? s.color + 'cc' : undefined, width: 0,
        // Two bar series side by side: the first left of its x, the second right of it.
        paths: bar ? uPlot.paths.bars(opts && opts.grouped ? { size: [0.35, 60], align: k === 0 ? -1 : 1 } : { size: [0.6, 80], align: 0 })
          : function () { return null; },
        points: bar ? { show: false } : { show: true, size: 12, stroke: s.color, fill: '#fff', width: 3 },
        value: function (u, v) { return v == null ? '-' : (opts && opts.percent ? (v * 100).toFixed(1) + '%' : v.toLocaleString('en-US')); },
      });
    });
    new uPlot({
      title: title, width: width, height: 260,
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } },
      axes: [
        { splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return names[i] == null ? '' : names[i]; }); }, grid: { show: false } },
        { values: function (u, splits) { return splits.map(function (v) { return opts && opts.percent ? Math.round(v * 100) + '%' : v.toLocaleString('en-US'); }); }, size: 70 },
      ],
      series: ser,
      cursor: { points: { show: false } },
    }, [xs].concat(series.map(function (s) { return s.values; })), target);
  }

  var verdicts = Object.keys(report.packets.byVerdict);
  bars('verdicts', 'Packets by verdict', verdicts, [{ label: 'packets', color: '#1f6fb4', values: verdicts.map(function (v) { return report.packets.byVerdict[v]; }) },
    { label: 'flows', color: '#8a4fbf', values: verdicts.map(function (v) { return report.flows.byVerdict[v] || 0; }) }], { grouped: true });

  var tl = report.timeline;
  if (tl.length >= 2 && el('timeline')) {
    var t = [], fwd = [], drop = [], ct = [];
    for (var i = 1; i < tl.length; i++) {
      var dt = tl[i].t - tl[i - 1].t;
      if (dt <= 0) continue;
      t.push(tl[i].t);
      fwd.push((tl[i].forwarded - tl[i - 1].forwarded) / dt);
      drop.push((tl[i].dropped + tl[i].rejected - tl[i - 1].dropped - tl[i - 1].rejected) / dt);
      ct.push(tl[i].conntrack);
    }
    if (t.length >= 1) {
      new uPlot({
        title: 'Packets per virtual second, and live conntrack entries', width: 560, height: 260,
        scales: { x: { time: false }, ct: {} },
        axes: [{ label: 'virtual seconds' }, { size: 70 }, { scale: 'ct', side: 1, grid: { show: false }, size: 70 }],
        series: [{ label: 't' }, { label: 'forwarded/s', stroke: COLORS.FORWARDED, width: 2 }, { label: 'dropped/s', stroke: COLORS.DROPPED, width: 2 },
          { label: 'conntrack', stroke: '#1f6fb4', dash: [6, 4], scale: 'ct', width: 1.5 }],
      }, [t, fwd, drop, ct], el('timeline'));
    }
  }

  if (report.drops.length) bars('drops', 'Dropped and rejected packets by reason', report.drops.map(function (d) { return d.reason; }),
    [{ label: 'packets', color: COLORS.DROPPED, values: report.drops.map(function (d) { return d.packets; }) }]);

  charts.services.forEach(function (s, i) {
    bars('service-' + i, '', s.names, [{ label: 'share of new flows', color: '#1f6fb4', values: s.share },
      { label: 'expected', color: '#222', values: s.expected, marks: true }], { percent: true });
  });

  if (report.dns) {
    var h = report.dns.queriesHistogram;
    bars('dns', 'Lookups by the queries they cost', h.map(function (x) { return String(x.queries); }),
      [{ label: 'lookups', color: '#1f6fb4', values: h.map(function (x) { return x.lookups; }) }]);
  }
})();
`;
