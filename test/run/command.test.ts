// `dpemu run` as a user runs it: the built-in example (npm start), a user's own cluster and traffic, pcap out
// and back in, and errors as a Unix tool gives them.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/build.js';
import { PcapReader } from '../../src/pcap/read.js';
import { PKT, PacketBatch } from '../../src/packet.js';

const ROOT = join(import.meta.dirname, '../..');
const dpemu = (...args: string[]) => spawnSync('node', ['dist/src/cli.js', ...args], { cwd: ROOT, encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'dpemu-run-'));

describe('dpemu run', () => {
  beforeAll(() => ensureBuilt());

  it('with no arguments runs the built-in example and says what happened', () => {
    const r = dpemu('run', '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.traffic.notes.join('\n')).toMatch(/default cluster of 3 nodes/);
    const byTarget = (from: string, to: string) => s.traffic.entries.find((e: { from: string; to: string[] }) => e.from === from && e.to[0] === to);
    // Allowed paths complete; the gateway may not reach the ledger (default-deny, no allow): every try dropped.
    expect(byTarget('deploy/payments/gateway', 'checkout:8080').failed).toBe(0);
    const denied = byTarget('deploy/payments/gateway', 'ledger:5432');
    expect(denied.opened).toBeGreaterThan(0);
    expect(denied.failedAt.connect).toBe(denied.opened);
    const html = join(dir, 'report.html');
    expect(dpemu('run', '--duration', '0.3', '--html', html, '--json').status).toBe(0);
    expect(readFileSync(html, 'utf8')).toMatch(/Connections by traffic entry/);
    expect(s.drops.find((d: { reason: string }) => d.reason === 'POLICY_DENIED').packets).toBeGreaterThan(0);
    expect(s.policy.byRule.map((r: { text: string }) => r.text)).toContain('dropped: egress isolated by NetworkPolicy payments/allow-dns, NetworkPolicy payments/default-deny, NetworkPolicy payments/gateway; no rule matched');
    expect(s.traffic.changes.map((c: { what: string }) => c.what)).toContain('scale deploy/payments/checkout-canary to 2');
    // The canary split: before the scale-up one canary pod of four endpoints, after it two of five.
    const checkout = s.services.filter((x: { service: string }) => x.service === 'payments/checkout:http');
    expect(checkout.map((x: { backends: unknown[] }) => x.backends.length)).toEqual(expect.arrayContaining([4, 5]));
    for (const period of checkout) expect(period.chiSquare.pValue).toBeGreaterThan(1e-4);
    expect(s.dns.lookups).toBeGreaterThan(1000);
    // The table form names the same figures.
    const t = dpemu('run');
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/deploy\/payments\/gateway -> ledger:5432 +│ TCP +│ +[\d,]+ │ +0 │/);
    expect(t.stdout).toMatch(/Backend distribution of new flows/);
  });

  it('writes the packets after NAT as pcap, which runs back in as the traffic', () => {
    const out = join(dir, 'out.pcap');
    const side = join(dir, 'out.jsonl');
    const r = dpemu('run', '--cluster', 'examples/payments/cluster', '--traffic', 'examples/payments/traffic.yaml', '--duration', '0.5', '--pcap-out', out, '--sidecar', side, '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    const reader = new PcapReader(readFileSync(out));
    const buf = new ArrayBuffer(1024 * PKT.STRIDE);
    const batch = new PacketBatch(() => buf, 0, 1024);
    let frames = 0;
    for (let n; (n = reader.fill(batch)) > 0;) frames += n;
    expect(frames).toBe(s.packets.byVerdict.FORWARDED);
    expect(readFileSync(side, 'utf8').trim().split('\n')).toHaveLength(s.run.processed);
    const back = dpemu('run', '--cluster', 'examples/payments/cluster', '--pcap-in', out, '--json');
    expect(back.status).toBe(0);
    expect(JSON.parse(back.stdout).capture.packets).toBe(frames);
  });

  it('writes one record per packet, as dpemu records or as Hubble flows', () => {
    for (const output of ['json', 'hubble']) {
      const f = join(dir, `flows-${output}.jsonl`);
      const r = dpemu('run', '--duration', '0.2', '--flows', f, '--output', output, '--json');
      expect(r.status).toBe(0);
      const s = JSON.parse(r.stdout);
      const lines = readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(s.run.processed);
      const dropped = lines.filter((l) => (output === 'json' ? l.verdict : l.flow.verdict) === 'DROPPED');
      expect(dropped.length).toBe(s.packets.byVerdict.DROPPED);
      if (output === 'hubble') {
        expect(dropped[0].flow).toMatchObject({ drop_reason_desc: 'POLICY_DENIED' });
        // a connection to a Service names it (those to a pod's own address, as a headless Service's are, do not)
        expect(dropped.find((d) => d.flow.destination_service)?.flow).toMatchObject({ drop_reason_desc: 'POLICY_DENIED', destination_service: { namespace: 'payments' } });
      }
      else expect(lines.some((l) => l.service === 'kube-system/kube-dns:dns')).toBe(true);
    }
  });

  it('runs a cluster given without traffic: its workloads call its Services, outside clients its LoadBalancers', () => {
    const r = dpemu('run', '--cluster', 'examples/shop', '--duration', '1', '--json');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.traffic.notes.join('\n')).toMatch(/no --traffic: a default traffic spec of \d+ entries/);
    expect(s.traffic.entries.some((e: { from: string; to: string[] }) => e.from === 'deploy/shop/web' && e.to[0] === 'api:8000')).toBe(true);
    expect(s.traffic.entries.some((e: { from: string }) => e.from === 'internet')).toBe(true);
    expect(s.traffic.entries.reduce((n: number, e: { completed: number }) => n + e.completed, 0)).toBeGreaterThan(100);
  });

  it('reports a bad spec on stderr, naming the file and field, with exit status 1', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'traffic:\n- {from: deploy/payments/gateway, to: "checkout:8080", rate: fast}\n');
    const r = dpemu('run', '--cluster', 'examples/payments/cluster', '--traffic', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`dpemu: ${bad}: traffic[0].rate: "fast" is not a number in 0..10000000\n`);
  });
});
