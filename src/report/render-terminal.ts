// The report as terminal tables (cli-table3), colored with picocolors when asked. Colour is the caller's
// choice (useColor(stream) says what a stream wants): the text is the same either way, so tests and pipes
// read it plainly.

import Table from 'cli-table3';
import { createColors } from 'picocolors';
import type { RunReport, ServiceDistribution } from './types.js';
import { count, fitVerdict, pValue, percent, rate, seconds } from './format.js';

export interface TerminalOptions {
  /** ANSI colours (default false). */
  color?: boolean;
  /** Service periods shown at most (the busiest; the JSON report has them all). Default 12. */
  maxServices?: number;
}

/** Whether output to `stream` should be coloured: a terminal, NO_COLOR unset, TERM not dumb. */
export function useColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function renderTerminal(report: RunReport, options: TerminalOptions = {}): string {
  const c = createColors(options.color ?? false);
  const table = (head: string[], align?: ('left' | 'right')[]) => new Table({
    head: head.map((h) => c.bold(h)),
    style: { head: [], border: [], compact: true },
    colAligns: align ?? head.map((_, i) => (i === 0 ? 'left' : 'right')),
  });
  const out: string[] = [];
  const section = (title: string) => out.push('', c.bold(c.cyan(title)));
  const r = report.run;

  const what = [r.design && `design ${r.design}`, r.backend && `${r.backend} backend`, r.seed !== null && `seed ${r.seed}`].filter(Boolean).join(', ');
  for (const n of report.traffic?.notes ?? []) out.push(c.dim(`note: ${n}`));
  out.push(c.bold(`dpemu run${what ? ` (${what})` : ''}`));
  for (const [k, v] of Object.entries(r.inputs)) out.push(`  ${k}: ${v}`);
  out.push(`  ${count(r.processed)} packets (${count(r.generated)} generated) over ${seconds(r.virtualSeconds)} of virtual time, in ${seconds(r.wallMs / 1000)}: ` +
    c.bold(`${rate(r.packetsPerSecond)} packets/s`));

  section('Packets and flows');
  const vt = table(['verdict', 'packets', 'share', 'flows', 'share']);
  const totalPackets = Object.values(report.packets.byVerdict).reduce((a, b) => a + b, 0);
  for (const v of Object.keys(report.packets.byVerdict)) {
    const p = report.packets.byVerdict[v], f = report.flows.byVerdict[v] ?? 0;
    const paint = v === 'FORWARDED' ? c.green : v === 'DROPPED' ? c.red : v === 'REJECTED' ? c.yellow : (s: string) => s;
    vt.push([paint(v), count(p), percent(totalPackets ? p / totalPackets : 0), count(f), percent(report.flows.total ? f / report.flows.total : 0)]);
  }
  vt.push([c.bold('total'), c.bold(count(totalPackets)), '', c.bold(count(report.flows.total)), '']);
  out.push(vt.toString());
  const ct = report.packets.byCtState, nat = report.packets.nat;
  out.push(`  conntrack: ${Object.entries(ct).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${count(n)}`).join(', ') || 'none'}`);
  out.push(`  translated: ${Object.entries(nat).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${count(n)}`).join(', ') || 'none'}`);

  const tr = report.traffic;
  if (tr) {
    section('Connections by traffic entry');
    const ctab = table(['from -> to', 'proto', 'opened', 'completed', 'failed', 'failed at', 'DNS lookups', 'queries each', 'DNS failed'],
      ['left', 'left', 'right', 'right', 'right', 'left', 'right', 'right', 'right']);
    for (const e of tr.entries) {
      const at = Object.entries(e.failedAt).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${count(n)}`).join(', ');
      ctab.push([`${e.from} -> ${e.to.join(', ')}`, e.proto, count(e.opened), count(e.completed), e.failed ? c.red(count(e.failed)) : '0', at,
        e.dns.lookups ? count(e.dns.lookups) : '', e.dns.lookups ? (e.dns.queries / e.dns.lookups).toFixed(2) : '',
        e.dns.lookups ? (e.dns.failed ? c.red(count(e.dns.failed)) : '0') : '']);
    }
    out.push(ctab.toString());
    for (const e of tr.entries) {
      if (e.http) out.push(`  ${e.from} -> ${e.to.join(', ')}: HTTP ${Object.entries(e.http).map(([s, n]) => `${s} ${count(n)}`).join(', ')}`);
    }
    for (const ch of tr.changes) out.push(`  at ${seconds(ch.at)}: ${ch.what}`);
  }

  if (report.drops.length) {
    section('Drop reasons');
    const dt = table(['reason', 'packets', 'share']);
    for (const d of report.drops) dt.push([c.red(d.reason), count(d.packets), percent(d.share)]);
    out.push(dt.toString());
  }

  if (report.policy.byRule.length) {
    section(`Policy drops by rule (${count(report.policy.drops)} packets)`);
    const pt = table(['rule', 'direction', 'packets'], ['left', 'left', 'right']);
    for (const p of report.policy.byRule) pt.push([p.text, p.direction ?? '-', count(p.packets)]);
    out.push(pt.toString());
  }

  if (report.services.length) {
    const max = options.maxServices ?? 12;
    const shown = [...report.services].sort((a, b) => b.flows - a.flows).slice(0, max);
    section(`Backend distribution of new flows (${report.services.length} service entr${report.services.length === 1 ? 'y' : 'ies'}${report.services.length > max ? `, the ${max} busiest shown` : ''})`);
    for (const s of shown) out.push(serviceBlock(s, c, table));
  }

  section('Conntrack');
  const k = report.conntrack;
  out.push(`  ${count(k.entries)} live entries of ${count(k.capacity)} (${percent(k.occupancy)} full); created ${count(k.created)}, ` +
    `evicted ${k.evicted ? c.red(count(k.evicted)) : '0'}, expired ${count(k.expired)}` + (k.affinityEvicted ? `, affinity evicted ${count(k.affinityEvicted)}` : ''));
  if (k.entries) out.push(`  by state: ${Object.entries(k.byState).map(([s, n]) => `${s} ${count(n)}`).join(', ')}; by protocol: ${Object.entries(k.byProto).map(([s, n]) => `${s} ${count(n)}`).join(', ')}`);

  section('NAT');
  const n = report.nat;
  out.push(`  ${count(n.dnatFlows)} live flows with a translated destination, ${count(n.snatFlows)} masqueraded; ` +
    `port range ${n.portRange.min}-${n.portRange.max} (${count(n.portRange.size)} ports)` + (n.noPortDrops ? `; ${c.red(count(n.noPortDrops))} packets dropped for want of a port` : ''));
  if (n.addresses.length) {
    const nt = table(['masquerade address', 'proto', 'ports in use', 'of range', 'flows']);
    for (const a of n.addresses.slice(0, 10)) nt.push([a.address, a.proto, count(a.portsInUse), percent(a.share), count(a.flows)]);
    out.push(nt.toString());
  }

  if (report.dns) {
    const d = report.dns;
    section('DNS');
    out.push(`  ${count(d.lookups)} lookups, ${count(d.queries)} queries (${d.queriesPerLookup.toFixed(2)} per lookup); ` +
      `${d.failed ? c.red(count(d.failed)) : '0'} failed${d.blocked ? `, ${c.red(count(d.blocked))} blocked by policy` : ''}`);
    out.push(`  answers: ${Object.entries(d.byRcode).map(([r, x]) => `${r} ${count(x)}`).join(', ')}`);
    out.push(`  queries per lookup: ${d.queriesHistogram.map((h) => `${h.queries}: ${count(h.lookups)}`).join(', ')}`);
    if (d.failures.length) {
      const ft = table(['name', 'type', 'answer', 'lookups', 'clients'], ['left', 'left', 'left', 'right', 'right']);
      for (const f of d.failures.slice(0, 10)) ft.push([f.name, f.type, c.red(f.rcode), count(f.lookups), count(f.clients)]);
      out.push(ft.toString());
    }
  }
  return out.join('\n') + '\n';
}

type Colors = ReturnType<typeof createColors>;

function serviceBlock(s: ServiceDistribution, c: Colors, table: (head: string[], align?: ('left' | 'right')[]) => Table.Table): string {
  const where = s.scope === 'any' ? '' : ` [${s.scope} entry of ${s.node}]`;
  const period = s.from === null && s.to === null ? '' : ` from ${s.from === null ? 'the start' : `${s.from} s`} to ${s.to === null ? 'the end' : `${s.to} s`}`;
  const fit = fitVerdict(s.chiSquare);
  const test = s.chiSquare
    ? `chi-square ${s.chiSquare.statistic.toFixed(2)}, df ${s.chiSquare.df}, p ${pValue(s.chiSquare.pValue)}` +
      (fit ? ` (${fit === 'fits' ? c.green(fit) : fit === 'skewed' ? c.red(fit) : c.yellow(fit)})` : '')
    : 'one backend';
  const t = table(['backend', 'pod', 'node', 'weight', 'expected', 'flows', 'share'], ['left', 'left', 'left', 'right', 'right', 'right', 'right']);
  for (const b of s.backends) t.push([b.backend, b.pod ?? '-', b.node ?? '-', String(b.weight), percent(b.expectedShare), count(b.flows), percent(b.share)]);
  return `  ${c.bold(s.service)}${where}${period}: ${count(s.flows)} new flows, ${s.algorithm}; ${test}\n${t.toString()}`;
}
