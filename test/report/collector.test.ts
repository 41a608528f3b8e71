// The report's figures on a small cluster whose outcome is known: three web replicas behind one Service
// (new flows split evenly, which the chi-square test accepts), a db pod isolated by a NetworkPolicy (every
// packet from the client dropped and counted under the policy's rule), replies (reverse NAT), and a
// scale-down in the middle that starts a new period of the service's distribution.

import { describe, it, expect } from 'vitest';
import { createEmulator, type Emulator, type PacketInput } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { RunCollector, runFinalOf } from '../../src/report/collector.js';
import { PacketBatch, PKT, VERDICT, CT_STATE, DROP, NAT } from '../../src/packet.js';
import type { RunFinal } from '../../src/report/collector.js';

const CLUSTER = readManifestFiles('test/report/fixtures/cluster.yaml');
const CLIENT = '10.244.1.100', WEB_VIP = '10.96.0.20', DB = '10.244.2.200';

async function cluster(): Promise<Emulator> {
  return createEmulator({ cluster: { files: CLUSTER }, seed: 7 });
}

/** Send packets through the zero-copy path, handing each processed batch to the collector. */
function run(emu: Emulator, col: RunCollector, packets: PacketInput[]): void {
  const batch = emu.createBatch(256);
  for (let a = 0; a < packets.length; a += 256) {
    const n = Math.min(256, packets.length - a);
    for (let i = 0; i < n; i++) batch.set(i, packets[a + i]);
    emu.process(batch, n);
    col.addBatch(batch, n);
  }
  col.sample(emu.now, emu.conntrackCount());
}

const syns = (n: number, from: number): PacketInput[] =>
  Array.from({ length: n }, (_, i) => ({ src: CLIENT, dst: WEB_VIP, sport: from + i, dport: 80, flags: 'S' }));

describe('RunCollector', () => {
  it('counts verdicts, flows, drops by reason and by policy rule, and the backend split with its chi-square', async () => {
    const emu = await cluster();
    const col = new RunCollector();
    col.noteCluster(emu.services(), emu.backends());
    const t0 = Date.now();
    run(emu, col, syns(3000, 10000));
    const denied: PacketInput[] = Array.from({ length: 5 }, (_, i) => ({ src: CLIENT, dst: DB, sport: 5000 + i, dport: 5432, flags: 'S' }));
    run(emu, col, denied);
    // The backends answer the first 100 connections: replies, reverse-NATed to the service address.
    const live = emu.conntrack().filter((e) => e.dst === WEB_VIP).slice(0, 100);
    run(emu, col, live.map((e) => ({ src: e.nat.dst, dst: e.src, sport: e.nat.dport, dport: e.sport, flags: 'SA' })));
    const report = col.finish(runFinalOf(emu, { wallMs: Date.now() - t0, generated: 3105 }));

    expect(report.run.processed).toBe(3105);
    expect(report.packets.byVerdict).toEqual({ FORWARDED: 3100, DROPPED: 5, REJECTED: 0 });
    expect(report.packets.byCtState).toMatchObject({ NEW: 3000, REPLY: 100, NONE: 5 });
    expect(report.packets.nat).toMatchObject({ DNAT: 3000, REVNAT: 100, SNAT: 0 });
    expect(report.flows).toEqual({ total: 3005, byVerdict: { FORWARDED: 3000, DROPPED: 5, REJECTED: 0 } });
    expect(report.drops).toEqual([{ reason: 'POLICY_DENIED', packets: 5, share: 1 }]);
    // The dataplane's own counters agree with what the collector read from the descriptors.
    expect(emu.counters().verdicts).toEqual(report.packets.byVerdict);

    expect(report.policy.drops).toBe(5);
    expect(report.policy.byRule).toEqual([{
      rule: expect.any(Number), text: 'dropped: ingress isolated by NetworkPolicy shop/db-ingress; no rule matched',
      direction: 'ingress', action: 'Isolated', packets: 5,
    }]);

    expect(report.services).toHaveLength(1);
    const web = report.services[0];
    expect(web).toMatchObject({ service: 'shop/web:http', scope: 'any', algorithm: 'random', flows: 3000, from: null, to: null });
    expect(web.backends.map((b) => b.weight)).toEqual([1, 1, 1]);
    // Each backend's count is the number of live flows conntrack holds to it (an independent tally).
    const perBackend = new Map<string, number>();
    for (const e of emu.conntrack()) if (e.backend) perBackend.set(e.backend, (perBackend.get(e.backend) ?? 0) + 1);
    for (const b of web.backends) {
      expect(b.flows).toBe(perBackend.get(b.backend));
      expect(b.expectedShare).toBeCloseTo(1 / 3, 12);
      expect(b.share).toBeGreaterThan(0.3);
      expect(b.share).toBeLessThan(0.37);
      expect(b.pod).toMatch(/^shop\/web-/);
    }
    const expected = 1000;
    const statistic = web.backends.reduce((s, b) => s + (b.flows - expected) ** 2 / expected, 0);
    expect(web.chiSquare!.statistic).toBeCloseTo(statistic, 9);
    expect(web.chiSquare!.df).toBe(2);
    expect(web.chiSquare!.pValue).toBeCloseTo(Math.exp(-statistic / 2), 9); // df 2: p = exp(-x/2)
    expect(web.chiSquare!.pValue).toBeGreaterThan(0.001); // a fair random choice passes

    // Conntrack is per node: the 3000 connections on their clients' nodes, and each one to a backend on another
    // node once more there (without a service: that node sees the translated packet).
    const entries = emu.conntrack();
    expect(entries.filter((e) => e.service !== null)).toHaveLength(3000);
    expect(entries.length).toBeGreaterThan(3000);
    expect(report.conntrack).toMatchObject({ entries: entries.length, capacity: emu.capacity().flows, created: entries.length, evicted: 0 });
    expect(report.conntrack.byState).toEqual({ SYN_SENT: entries.length }); // a SYN-ACK alone does not establish (the client's ACK would)
    expect(report.timeline.map((p) => p.packets)).toEqual([3000, 3005, 3105]);
    expect(report.timeline[2]).toMatchObject({ forwarded: 3100, dropped: 5, flows: 3005, conntrack: entries.length });
    expect(report.run.packetsPerSecond).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain JSON
  });

  it('judges each period between changes of a service\'s backends on its own', async () => {
    const emu = await cluster();
    const col = new RunCollector();
    col.noteCluster(emu.services(), emu.backends());
    run(emu, col, syns(300, 10000));
    emu.apply(CLUSTER[0].text.replace('replicas: 3', 'replicas: 2'));
    col.noteCluster(emu.services(), emu.backends(), 10);
    emu.advance(10);
    run(emu, col, syns(300, 20000));
    const report = col.finish(runFinalOf(emu, { wallMs: 1, generated: 600 }));
    expect(report.services.map((s) => [s.service, s.from, s.to, s.flows, s.backends.length])).toEqual([
      ['shop/web:http', null, 10, 300, 3],
      ['shop/web:http', 10, null, 300, 2],
    ]);
    expect(report.services[1].chiSquare!.df).toBe(1);
    expect(report.services[1].backends.every((b) => b.weight === 1)).toBe(true);
  });

  it('tells apart one address and port serving two protocols (kube-dns: 53 over UDP and TCP)', async () => {
    const emu = await createEmulator({ cluster: { files: readManifestFiles('examples/netpol') } });
    const col = new RunCollector();
    col.noteCluster(emu.services(), emu.backends());
    run(emu, col, Array.from({ length: 40 }, (_, i): PacketInput => (i % 2
      ? { src: '10.244.1.7', dst: '10.96.0.10', sport: 20000 + i, dport: 53, proto: 'UDP' }
      : { src: '10.244.1.7', dst: '10.96.0.10', sport: 20000 + i, dport: 53, flags: 'S' })));
    const report = col.finish(runFinalOf(emu, { wallMs: 1, generated: 40 }));
    expect(report.services.map((s) => [s.service, s.flows, s.backends.map((b) => [b.backend, b.weight, b.flows])])).toEqual([
      ['kube-system/kube-dns:dns', 20, [['10.244.1.2:53', 1, 20]]],
      ['kube-system/kube-dns:dns-tcp', 20, [['10.244.1.2:53', 1, 20]]],
    ]);
  });

  it('gives a skewed split a vanishing p-value', () => {
    // Descriptors written by hand: 900, 50 and 50 new flows of service entry 0 to backends 0, 1, 2.
    const batch = new PacketBatch(() => buffer, 0, 1000);
    const buffer = new ArrayBuffer(1000 * PKT.STRIDE);
    for (let i = 0; i < 1000; i++) {
      batch.set(i, { saddr: 1, daddr: 2, sport: i, dport: 80, proto: 6, tcpFlags: 2 });
      batch.setOutput(i, { outSaddr: 1, outDaddr: 3, outSport: i, outDport: 8080, verdict: VERDICT.FORWARDED, dropReason: DROP.NONE,
        ctState: CT_STATE.NEW, natFlags: NAT.DNAT, service: 0, backend: i < 900 ? 0 : i < 950 ? 1 : 2, policyRule: 0 });
    }
    const col = new RunCollector();
    const svc = { service: 'ns/s:80', index: 0, scope: 'any', node: null, frontends: [], backends: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'], algorithm: 'random', rule: '' };
    const backends = [0, 1, 2].map((id) => ({ backend: `10.0.0.${id + 1}:80`, id, protocol: 'TCP', node: null, pod: null, activeFlows: 0 }));
    col.noteCluster([svc], backends);
    col.addProcessed(new Uint8Array(buffer), 0, 1000);
    const final: RunFinal = {
      counters: { verdicts: {}, drops: {}, ctCreated: 0, ctEvicted: 0, ctExpired: 0, affinityEvicted: 0, packets: 0, bytes: 0, policyLookups: 0, ipvsSchedulerEvicted: 0 },
      conntrack: [
        // Two masqueraded flows leaving 192.168.1.1 from ports 40000 and 40001, one service flow without SNAT.
        { src: '203.0.113.1', sport: 1, dst: '192.168.1.1', dport: 30080, proto: 'TCP', nat: { src: '192.168.1.1', sport: 40000, dst: '10.0.0.1', dport: 80 }, node: 'node-a', service: null, backend: null, state: 'ESTABLISHED', expires: 1, packets: 1, bytes: 64 },
        { src: '203.0.113.2', sport: 1, dst: '192.168.1.1', dport: 30080, proto: 'TCP', nat: { src: '192.168.1.1', sport: 40001, dst: '10.0.0.2', dport: 80 }, node: 'node-a', service: null, backend: null, state: 'ESTABLISHED', expires: 1, packets: 1, bytes: 64 },
        { src: '10.244.1.1', sport: 1, dst: '10.96.0.1', dport: 80, proto: 'TCP', nat: { src: '10.244.1.1', sport: 1, dst: '10.0.0.3', dport: 80 }, node: 'node-a', service: null, backend: null, state: 'SYN_SENT', expires: 1, packets: 1, bytes: 64 },
      ],
      capacity: { flows: 100, natPorts: { min: 40000, max: 40009 } }, services: [svc], backends, wallMs: 500, virtualSeconds: 2, generated: 1000,
    };
    // Without noteCluster the flows are still counted, under the entry's number, and nothing is tested.
    const blind = new RunCollector();
    blind.addProcessed(new Uint8Array(buffer), 0, 1000);
    const unnamed = blind.finish({ ...final, services: [], backends: [] }).services;
    expect(unnamed.map((u) => [u.service, u.flows, u.chiSquare, u.backends.map((b) => [b.backend, b.flows])])).toEqual([['#0', 1000, null, [['#0', 900], ['#1', 50], ['#2', 50]]]]);

    const report = col.finish(final);
    const s = report.services[0];
    expect(s.backends.map((b) => b.flows)).toEqual([900, 50, 50]);
    expect(s.chiSquare!.pValue).toBeLessThan(1e-100);
    expect(report.run.packetsPerSecond).toBe(2000);
    expect(report.nat).toEqual({
      portRange: { min: 40000, max: 40009, size: 10 }, dnatFlows: 3, snatFlows: 2, noPortDrops: 0,
      addresses: [{ address: '192.168.1.1', proto: 'TCP', portsInUse: 2, flows: 2, share: 0.2 }],
    });
    expect(report.conntrack).toMatchObject({ entries: 3, capacity: 100, occupancy: 0.03 });
  });

  it('summarizes DNS lookups: queries per lookup, answer codes, failures by name', () => {
    const col = new RunCollector();
    col.addDns({ client: '10.244.1.5', name: 'web', type: 'A', queries: 1, rcode: 'NOERROR', blocked: false });
    col.addDns({ client: '10.244.1.5', name: 'example.com', type: 'A', queries: 4, rcode: 'NXDOMAIN', blocked: false });
    col.addDns({ client: '10.244.1.6', name: 'example.com', type: 'A', queries: 4, rcode: 'NXDOMAIN', blocked: false });
    col.addDns({ client: '10.244.1.7', name: 'db', type: 'A', queries: 1, rcode: 'SERVFAIL', blocked: true });
    const final: RunFinal = {
      counters: { verdicts: {}, drops: {}, ctCreated: 0, ctEvicted: 0, ctExpired: 0, affinityEvicted: 0, packets: 0, bytes: 0, policyLookups: 0, ipvsSchedulerEvicted: 0 },
      conntrack: [], capacity: { flows: 10, natPorts: { min: 1, max: 2 } }, services: [], backends: [], wallMs: 0, virtualSeconds: 0, generated: 0,
    };
    const dns = col.finish(final).dns!;
    expect(dns).toMatchObject({ lookups: 4, queries: 10, queriesPerLookup: 2.5, blocked: 1, failed: 3 });
    expect(dns.queriesHistogram).toEqual([{ queries: 1, lookups: 2 }, { queries: 4, lookups: 2 }]);
    expect(dns.byRcode).toEqual({ NXDOMAIN: 2, BLOCKED: 1, NOERROR: 1 });
    expect(dns.failures[0]).toEqual({ name: 'example.com', type: 'A', rcode: 'NXDOMAIN', blocked: false, lookups: 2, clients: 2 });
    expect(dns.failures[1]).toMatchObject({ name: 'db', rcode: 'BLOCKED', blocked: true });
  });

  it('refuses descriptors outside the bytes given', () => {
    expect(() => new RunCollector().addProcessed(new Uint8Array(PKT.STRIDE), 0, 2)).toThrow(RangeError);
  });
});
