// `dpemu demo`: the built-in example cluster (a synthetic one, src/controlplane/synthetic.ts) through a short
// scripted scenario (connections opened, answered, closed; a UDP query; a service without endpoints; an
// unknown protocol), printed as a table or one JSON object per packet.

import { createDataplane, BackendKind } from './node.js';
import { synthesize, limitsFor, program, SyntheticCluster } from './controlplane/synthetic.js';
import { formatIPv4 } from './common/ip.js';
import {
  PacketIn, PacketRecord, NONE, PROTO, CT_STATE, PROTO_NAMES, TCP, NAT, VERDICT, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE_NAMES,
  formatTcpFlags,
} from './packet.js';
import { Dataplane, Design, DEFAULT_ALGO } from './dataplane.js';
import { paint, Style } from './style.js';

function natNames(flags: number): string[] {
  const out: string[] = [];
  for (const [name, bit] of Object.entries(NAT)) if (flags & bit) out.push(name);
  return out;
}

interface DemoPacket { note: string; pkt: PacketIn }
interface DemoStep { t: number; packets: (DemoPacket | undefined)[] }
interface DemoRow { t: number; note: string; rec: PacketRecord }

/** The built-in example cluster. */
const EXAMPLE_SPEC = {
  nodes: 3, services: 8, backends: 3, algo: 'mix', clients: 8, affinityFraction: 0.25, emptyFraction: 0.1, seed: 1,
} as const;

export async function demo(opts: { json?: boolean; backend: BackendKind; design: Design }): Promise<void> {
  // 'mix' cycles through the design's own algorithms.
  const cluster: SyntheticCluster = synthesize({ ...EXAMPLE_SPEC, design: opts.design });
  const svcCount = cluster.services.length;
  const dp: Dataplane = await createDataplane(opts.backend, {
    ...limitsFor(cluster, 1024), maxServices: svcCount + 1, maxFrontends: svcCount + 16, seed: 1, design: opts.design,
  });
  program(dp, cluster);
  const serviceName = new Map<number, string>(cluster.services.map((s) => [s.index, s.name]));

  // A service without endpoints: the example's own if it has one, else one more, added here.
  const empty = cluster.services.find((s) => s.backends.length === 0);
  let emptyVip: number, emptyPort: number;
  if (empty) {
    emptyVip = empty.vip; emptyPort = empty.port;
  } else {
    const index = svcCount;
    emptyVip = (cluster.services[svcCount - 1].vip + 1) >>> 0; emptyPort = 80;
    dp.setService(index, { algo: DEFAULT_ALGO[opts.design], backends: [] });
    dp.upsertFrontend({ addr: emptyVip, port: emptyPort, proto: PROTO.TCP }, index);
    serviceName.set(index, 'default/no-endpoints');
  }
  // A UDP port (53/udp, "dns") on the first service with backends and no affinity.
  const udpSvc = cluster.services.find((s) => s.backends.length > 0 && s.affinityTimeout === 0 && s.algo === DEFAULT_ALGO[opts.design])
    ?? cluster.services.find((s) => s.backends.length > 0)!;
  dp.upsertFrontend({ addr: udpSvc.vip, port: 53, proto: PROTO.UDP }, udpSvc.index);

  const withBackends = cluster.services.filter((s) => s.backends.length > 0);
  const affine = withBackends.find((s) => s.affinityTimeout > 0) ?? withBackends[0];
  const others = withBackends.filter((s) => s !== affine && s !== udpSvc);
  const cl = cluster.clients;

  // Connections: A to the affinity service (opened, data, closed), B..D to three more services,
  // E a second connection of A's client to the same service (affinity: same backend).
  const conns = [
    { id: 'A', client: cl[0], svc: affine, sport: 40000 },
    { id: 'B', client: cl[1], svc: others[0], sport: 40001 },
    { id: 'C', client: cl[2], svc: others[1], sport: 40002 },
    { id: 'D', client: cl[3], svc: others[2], sport: 40003 },
    { id: 'E', client: cl[0], svc: affine, sport: 40004 },
  ];
  const conn = (id: string) => conns.find((c) => c.id === id)!;
  const fwd = (id: string, flags: number, note: string): DemoPacket => {
    const c = conn(id);
    return { note: `${id} ${note}`, pkt: { saddr: c.client.addr, daddr: c.svc.vip, sport: c.sport, dport: c.svc.port, proto: c.svc.proto, tcpFlags: flags, node: c.client.node } };
  };
  // What each connection's first packet became (read after its step), for the replies.
  const opened = new Map<string, PacketRecord>();
  // Undefined when the connection was never opened (its first packet was not forwarded NEW).
  const rev = (id: string, flags: number, note: string, proto: number = PROTO.TCP): DemoPacket | undefined => {
    const o = opened.get(id);
    if (!o) return undefined;
    const node = o.backend !== NONE ? cluster.backends[o.backend].node : 0;
    return { note: `${id} ${note}`, pkt: { saddr: o.outDaddr, daddr: o.outSaddr, sport: o.outDport, dport: o.outSport, proto, tcpFlags: flags, node } };
  };
  const udpClient = cl[4];
  const steps: (() => DemoStep)[] = [
    () => ({ t: 1000, packets: ['A', 'B', 'C', 'D'].map((id) => fwd(id, TCP.SYN, 'SYN')) }),
    () => ({ t: 1001, packets: ['A', 'B', 'C', 'D'].map((id) => rev(id, TCP.SYN | TCP.ACK, 'SYN-ACK from backend')) }),
    () => ({ t: 1002, packets: [...['A', 'B', 'C', 'D'].map((id) => fwd(id, TCP.ACK, 'ACK')), fwd('A', TCP.PSH | TCP.ACK, 'data')] }),
    () => ({ t: 1500, packets: [
      fwd('E', TCP.SYN, 'SYN, same client and service as A'),
      { note: 'U UDP query', pkt: { saddr: udpClient.addr, daddr: udpSvc.vip, sport: 45353, dport: 53, proto: PROTO.UDP, node: udpClient.node } },
      { note: 'R SYN to a service without endpoints', pkt: { saddr: cl[5].addr, daddr: emptyVip, sport: 40010, dport: emptyPort, proto: PROTO.TCP, tcpFlags: TCP.SYN, node: cl[5].node } },
      { note: 'X protocol 99 (unknown L4)', pkt: { saddr: cl[6].addr, daddr: others[0].vip, sport: 40011, dport: others[0].port, proto: 99, node: cl[6].node } },
    ] }),
    () => ({ t: 1501, packets: [rev('U', 0, 'UDP answer from backend', PROTO.UDP), rev('E', TCP.SYN | TCP.ACK, 'SYN-ACK from backend')] }),
    () => ({ t: 2000, packets: [fwd('A', TCP.FIN | TCP.ACK, 'FIN from client')] }),
    () => ({ t: 2001, packets: [rev('A', TCP.FIN | TCP.ACK, 'FIN from backend')] }),
    () => ({ t: 2002, packets: [fwd('A', TCP.ACK, 'last ACK')] }),
  ];

  const batch = dp.allocBatch(16);
  const rows: DemoRow[] = [];
  for (const make of steps) {
    const step = make();
    const packets = step.packets.filter((p): p is DemoPacket => p !== undefined);
    packets.forEach((p, i) => batch.set(i, p.pkt));
    dp.process(batch, packets.length, step.t);
    packets.forEach((p, i) => {
      const rec = batch.get(i);
      rows.push({ t: step.t, note: p.note, rec });
      const id = p.note.split(' ')[0];
      if (!opened.has(id) && rec.verdict === VERDICT.FORWARDED && rec.ctState === CT_STATE.NEW) opened.set(id, rec);
    });
  }

  const backendText = (id: number) => {
    if (id === NONE) return '-';
    const b = cluster.backends[id];
    return b ? `${formatIPv4(b.addr)}:${b.port}` : `#${id}`;
  };
  const proto = (p: number) => PROTO_NAMES[p] ?? String(p);

  if (opts.json) {
    for (const { t, note, rec: r } of rows) {
      const forwarded = r.verdict === VERDICT.FORWARDED;
      console.log(JSON.stringify({
        t_ms: t, note,
        in: { saddr: formatIPv4(r.saddr), sport: r.sport, daddr: formatIPv4(r.daddr), dport: r.dport, proto: proto(r.proto), tcp_flags: r.proto === PROTO.TCP ? formatTcpFlags(r.tcpFlags) : undefined, node: r.node },
        out: forwarded ? { saddr: formatIPv4(r.outSaddr), sport: r.outSport, daddr: formatIPv4(r.outDaddr), dport: r.outDport } : null,
        verdict: VERDICT_NAMES[r.verdict], drop_reason: DROP_REASON_NAMES[r.dropReason], ct_state: CT_STATE_NAMES[r.ctState],
        nat: natNames(r.natFlags),
        service: r.service === NONE ? null : serviceName.get(r.service) ?? r.service,
        backend: r.backend === NONE ? null : backendText(r.backend),
        policy_rule: r.policyRule,
      }));
    }
    return;
  }

  const header = ['time', 'packet', 'in', 'out', 'verdict', 'drop reason', 'ct', 'nat', 'service', 'backend'];
  const table = rows.map(({ t, note, rec: r }) => {
    const flags = r.proto === PROTO.TCP ? ' ' + (formatTcpFlags(r.tcpFlags) || '-') : '';
    return [
      `${(t / 1000).toFixed(3)}s`, note,
      `${formatIPv4(r.saddr)}:${r.sport} > ${formatIPv4(r.daddr)}:${r.dport} ${proto(r.proto)}${flags}`,
      r.verdict === VERDICT.FORWARDED ? `${formatIPv4(r.outSaddr)}:${r.outSport} > ${formatIPv4(r.outDaddr)}:${r.outDport}` : '-',
      VERDICT_NAMES[r.verdict] ?? String(r.verdict),
      r.dropReason ? DROP_REASON_NAMES[r.dropReason] ?? String(r.dropReason) : '-',
      CT_STATE_NAMES[r.ctState] ?? String(r.ctState),
      natNames(r.natFlags).join(',') || '-',
      r.service === NONE ? '-' : serviceName.get(r.service) ?? String(r.service),
      backendText(r.backend),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[], style?: (i: number, cell: string) => Style | undefined) =>
    cells.map((c, i) => {
      const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]);
      const s = style?.(i, c);
      return s ? paint(s, padded) : padded;
    }).join('  ');
  const verdictStyle = (v: string): Style => (v === 'FORWARDED' ? 'green' : v === 'REJECTED' ? 'yellow' : 'red');

  console.log(paint('bold', `dpemu demo: ${cluster.nodes.length} nodes, ${svcCount} services (${[...new Set(cluster.services.map((s) => s.algo))].join(', ')}), ${cluster.backends.length} backends, ${cl.length} clients; ${dp.kind} dataplane, ${opts.design} design`));
  console.log(line(header, () => 'bold'));
  for (const row of table) console.log(line(row, (i, c) => (i === 4 ? verdictStyle(c) : i === 0 ? 'dim' : undefined)));

  const c = dp.counters();
  console.log();
  const a = conn('A'), last = rows[rows.length - 1].t;
  const fa = dp.flow(a.client.addr, a.svc.vip, a.sport, a.svc.port, PROTO.TCP, last);
  const fd = dp.flow(conn('D').client.addr, conn('D').svc.vip, conn('D').sport, conn('D').svc.port, PROTO.TCP, last);
  if (fa && fd) {
    console.log(paint('bold', 'conntrack lifetimes') + ` (at ${(last / 1000).toFixed(3)}s)`);
    console.log(`  A (closed by FIN/FIN)  expires at ${(fa.expires / 1000).toFixed(3)}s, in ${((fa.expires - last) / 1000).toFixed(0)} s; ${fa.packets} packets`);
    console.log(`  D (established)        expires at ${(fd.expires / 1000).toFixed(3)}s, in ${((fd.expires - last) / 1000).toFixed(0)} s; ${fd.packets} packets`);
    console.log();
  }
  console.log(paint('bold', 'counters'));
  console.log(`  verdicts   ${Object.entries(c.verdicts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`  drops      ${Object.entries(c.drops).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  console.log(`  conntrack  created ${c.ctCreated}, live ${dp.ctCount()}, evicted ${c.ctEvicted}, expired ${c.ctExpired}`);
  console.log(`  traffic    ${c.packets} packets, ${c.bytes} bytes, ${c.policyLookups} policy lookups`);
}
