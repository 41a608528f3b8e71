// The kernel as the oracle: dpemu export's rules (iptables-save for the iptables design, nft -f for
// the nftables design) loaded into a network namespace of this machine, packets sent through it
// from a second namespace (and from the node itself to 127.0.0.1), the kernel's NAT decisions read
// back with conntrack, and compared with dpemu trace (the same design) on the same packets.
// Needs root, ip, iptables / nft, conntrack; skipped with the reason otherwise, failed instead
// when DPEMU_REQUIRE_KERNEL=1. DPEMU_KERNEL_MUTATION=probability|masquerade alters the loaded
// rules (not dpemu's) to show that a wrong rule is caught.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadManifests } from '../../src/k8s/load.js';
import { exportIptables } from '../../src/export/iptables.js';
import { exportNft } from '../../src/export/nft.js';
import { createTracer, TraceRecord } from '../../src/trace.js';
import type { ClusterModel } from '../../src/k8s/model.js';

const NODE_IP = '192.168.0.2', NODE_IP2 = '192.168.1.2';
const tag = `dpemu${process.pid}`;
const NS_NODE = `${tag}n`, NS_CLIENT = `${tag}c`, NS_SINK = `${tag}s`;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const b of ['ip', 'iptables-restore', 'nft', 'conntrack']) if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `${b} not installed (apt-get install -y iptables nftables conntrack iproute2)`;
  const t = spawnSync('ip', ['netns', 'add', `${tag}probe`]);
  if (t.status !== 0) return `cannot create a network namespace: ${t.stderr}`;
  spawnSync('ip', ['netns', 'del', `${tag}probe`]);
  return undefined;
}
const reason = unavailable();
const required = process.env.DPEMU_REQUIRE_KERNEL === '1';

const sh = (cmd: string[], input?: string) => execFileSync(cmd[0], cmd.slice(1), { input, encoding: 'utf8' });
const inNs = (ns: string, cmd: string[], input?: string) => sh(['ip', 'netns', 'exec', ns, ...cmd], input);

// ---------------------------------------------------------------- a random small cluster
function rng(seed: number) { let s = seed >>> 0; return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; }; }

interface Svc { name: string; obj: object; slice?: object; frontends: { dst: string; dport: number }[] }
function cluster(seed: number): { docs: object[]; frontends: { svc: string; dst: string; dport: number }[]; pods: string[] } {
  const r = rng(seed);
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'ExternalIP', address: NODE_IP2 }] } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.3' }] } },
  ];
  const frontends: { svc: string; dst: string; dport: number }[] = [];
  const pods: string[] = [];
  const kinds = ['ClusterIP', 'ClusterIP', 'NodePort', 'LB-ranges', 'LB-local', 'none', 'externalIP', 'affinity', 'NodePort-local', 'internal-Local'];
  kinds.forEach((kind, i) => {
    const name = `s${i}`, cip = `10.96.0.${10 + i}`, port = 80 + (i % 3), np = 30100 + i;
    const n = kind === 'none' ? 0 : 1 + Math.floor(r() * 3);
    const eps = Array.from({ length: n }, (_, j) => {
      const node = r() < 0.5 ? 'node-a' : 'node-b';
      const ip = `10.244.${node === 'node-a' ? 0 : 1}.${10 + i * 4 + j}`;
      pods.push(ip);
      return { addresses: [ip], nodeName: node };
    });
    const spec: Record<string, unknown> = { clusterIP: cip, ports: [{ name: 'p', port, protocol: 'TCP', targetPort: 8080 }] };
    const status: Record<string, unknown> = {};
    frontends.push({ svc: name, dst: cip, dport: port });
    if (kind.startsWith('NodePort') || kind.startsWith('LB')) {
      spec.type = kind.startsWith('LB') ? 'LoadBalancer' : 'NodePort';
      (spec.ports as Record<string, unknown>[])[0].nodePort = np;
      frontends.push({ svc: name, dst: NODE_IP, dport: np }, { svc: name, dst: NODE_IP2, dport: np });
    }
    if (kind.endsWith('local')) spec.externalTrafficPolicy = 'Local';
    if (kind.startsWith('LB')) { status.loadBalancer = { ingress: [{ ip: `5.6.7.${i}` }] }; frontends.push({ svc: name, dst: `5.6.7.${i}`, dport: port }); }
    if (kind === 'LB-ranges') spec.loadBalancerSourceRanges = ['203.0.113.0/25'];
    if (kind === 'externalIP') { spec.externalIPs = [`192.0.2.${i}`]; frontends.push({ svc: name, dst: `192.0.2.${i}`, dport: port }); }
    if (kind === 'affinity') spec.sessionAffinity = 'ClientIP';
    if (kind === 'internal-Local') spec.internalTrafficPolicy = 'Local';
    docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec, status });
    docs.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', endpoints: eps, ports: [{ name: 'p', port: 8080, protocol: 'TCP' }] });
  });
  return { docs, frontends, pods };
}

const SOURCES = ['203.0.113.5', '203.0.113.200', '10.244.1.250'];

function mutate(rules: string): string {
  const m = process.env.DPEMU_KERNEL_MUTATION;
  // Every first endpoint taken: iptables' statistic probability 1, nft's numgen mod 1 (always 0).
  if (m === 'probability') return rules.replace(/--probability [0-9.]+/g, '--probability 1.0000000000').replace(/numgen random mod \d+/g, 'numgen random mod 1');
  if (m === 'masquerade') {
    return rules.split('\n').filter((l) => !/^-A KUBE-SVC-.* ! -s .* -j KUBE-MARK-MASQ$/.test(l) && !/^add rule ip kube-proxy service-\S+ ip daddr \S+ ip saddr != \S+ jump mark-for-masquerade$/.test(l)).join('\n');
  }
  return rules;
}

type Mode = 'iptables' | 'nftables';
/** The export for the design, and how it goes into the node's namespace. */
const MODES: Record<Mode, { rules: (m: ClusterModel) => string; load: (rules: string) => void }> = {
  iptables: {
    rules: (m) => exportIptables(m, { node: 'node-a', nfacct: false }),
    load: (rules) => { inNs(NS_NODE, ['iptables-restore'], rules); inNs(NS_NODE, ['iptables-restore', '--noflush'], JUMPS); },
  },
  // The nftables mode's base chains hook themselves into netfilter: the transaction is all there is.
  nftables: { rules: (m) => exportNft(m, { node: 'node-a' }), load: (rules) => { inNs(NS_NODE, ['nft', '-f', '-'], rules); } },
};

// kube-proxy's jumps from the built-in chains (pkg/proxy/iptables/proxier.go iptablesJumpChains).
const JUMPS = `*filter
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
COMMIT
*nat
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
`;

function setUp(clientAddrs: string[]): void {
  for (const ns of [NS_NODE, NS_CLIENT, NS_SINK]) sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', `${tag}v`, 'netns', NS_NODE, 'type', 'veth', 'peer', 'name', `${tag}w`, 'netns', NS_CLIENT]);
  const n = (...c: string[]) => inNs(NS_NODE, c), c = (...a: string[]) => inNs(NS_CLIENT, a);
  n('ip', 'link', 'set', 'lo', 'up'); n('ip', 'link', 'set', `${tag}v`, 'up');
  n('ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', `${tag}v`); n('ip', 'addr', 'add', `${NODE_IP2}/24`, 'dev', `${tag}v`);
  // The pods and everything else sit behind an interface that carries the node's address (the
  // masquerade source); its peer is in a namespace where the packets end (no dummy module here).
  sh(['ip', 'link', 'add', 'pods', 'netns', NS_NODE, 'type', 'veth', 'peer', 'name', 'sink', 'netns', NS_SINK]);
  n('ip', 'link', 'set', 'pods', 'up'); inNs(NS_SINK, ['ip', 'link', 'set', 'sink', 'up']);
  n('ip', 'addr', 'add', `${NODE_IP}/32`, 'dev', 'pods');
  // Through a gateway with a permanent neighbour entry: no ARP, so no "host unreachable" comes back.
  n('ip', 'neigh', 'add', '169.254.1.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'pods', 'nud', 'permanent');
  n('ip', 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'pods', 'onlink');
  // kube-proxy's iptables mode sets route_localnet for localhostNodePorts (127.0.0.1 DNATed to a pod).
  for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${tag}v.rp_filter=0`, 'net.ipv4.conf.default.rp_filter=0',
    // REJECT answers every packet here: no ICMP rate limit in the node's namespace.
    'net.ipv4.icmp_ratelimit=0', 'net.ipv4.icmp_msgs_per_sec=1000000', 'net.ipv4.icmp_msgs_burst=1000000']) n('sysctl', '-qw', k);
  // Answers to the clients (REJECT's ICMP, reverse-NATed replies) go back to the client namespace.
  for (const a of clientAddrs) n('ip', 'route', 'add', `${a}/32`, 'dev', `${tag}v`);
  c('ip', 'link', 'set', 'lo', 'up'); c('ip', 'link', 'set', `${tag}w`, 'up');
  c('ip', 'addr', 'add', '192.168.0.100/24', 'dev', `${tag}w`);
  for (const a of clientAddrs) c('ip', 'addr', 'add', `${a}/32`, 'dev', `${tag}w`);
  c('ip', 'route', 'add', 'default', 'via', NODE_IP);
  // A hairpinned SYN comes back to the client namespace (the backend is the client): no RST from
  // there, which would make conntrack forget the connection before it is read.
  c('iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'DROP');
}
function tearDown(): void {
  for (const ns of [NS_NODE, NS_CLIENT, NS_SINK]) spawnSync('ip', ['netns', 'del', ns]);
}

interface Kernel { outcome: string; backend?: string; replyDst?: string }
function parseConntrack(text: string): Map<string, { backend: string; replyDst: string }> {
  const out = new Map<string, { backend: string; replyDst: string }>();
  for (const line of text.split('\n')) {
    const f = [...line.matchAll(/(src|dst|sport|dport)=(\S+)/g)].map((m) => m[2]);
    if (f.length < 8) continue;
    out.set(`${f[0]}:${f[2]}>${f[1]}:${f[3]}`, { backend: `${f[4]}:${f[6]}`, replyDst: f[5] });
  }
  return out;
}

describe.runIf(!reason || required)('the Linux kernel runs dpemu export like dpemu trace', () => {
  it.each([['iptables', 1], ['iptables', 2], ['iptables', 3], ['nftables', 1], ['nftables', 2], ['nftables', 3]] as [Mode, number][])('%s, seed %i: verdicts, backends, masquerade and distributions agree', async (mode, seed) => {
    if (reason) throw new Error(`DPEMU_REQUIRE_KERNEL=1 but: ${reason}`);
    const { docs, frontends, pods } = cluster(seed);
    const affinity = new Set((docs as { kind: string; metadata: { name: string }; spec?: { sessionAffinity?: string } }[])
      .filter((d) => d.kind === 'Service' && d.spec?.sessionAffinity === 'ClientIP').map((d) => d.metadata.name));
    const files = [{ path: `seed${seed}.json`, text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) }];
    const model = loadManifests(files, { clusterCIDR: '10.244.0.0/16' }).model;
    const rules = mutate(MODES[mode].rules(model));
    // Every frontend from each source, plus hairpin from the first endpoint; the frontends of
    // services with several endpoints get repeats for the distribution check.
    const packets: { src: string; sport: number; dst: string; dport: number; svc: string }[] = [];
    let sport = 20000;
    for (const fe of frontends) {
      const hairpin = pods.find((p) => JSON.stringify(docs).includes(`"${p}"],"nodeName"`) && docs.some((d) => JSON.stringify(d).includes(`"name":"${fe.svc}-1"`) && JSON.stringify(d).includes(p)));
      for (const src of [...SOURCES, ...(hairpin ? [hairpin] : [])]) {
        const reps = fe.dst.startsWith('10.96.') && src === SOURCES[2] ? 60 : 1;
        for (let k = 0; k < reps; k++) packets.push({ src, sport: sport++, dst: fe.dst, dport: fe.dport, svc: fe.svc });
      }
      // NodePorts from the node itself to 127.0.0.1 (localhostNodePorts: iptables mode only).
      if (fe.dst === NODE_IP) packets.push({ src: '127.0.0.1', sport: sport++, dst: '127.0.0.1', dport: fe.dport, svc: fe.svc });
    }
    const fromNode = packets.filter((p) => p.src === '127.0.0.1'), fromClient = packets.filter((p) => p.src !== '127.0.0.1');
    const clientAddrs = [...new Set(fromClient.map((p) => p.src))];
    tearDown();
    try {
      setUp(clientAddrs);
      MODES[mode].load(rules);
      const client = join(import.meta.dirname, 'client.mjs');
      const byClient: string[] = JSON.parse(inNs(NS_CLIENT, ['node', client, JSON.stringify(fromClient), '800']));
      const byNode: string[] = JSON.parse(inNs(NS_NODE, ['node', client, JSON.stringify(fromNode), '800']));
      const outcomes = packets.map((p) => (p.src === '127.0.0.1' ? byNode[fromNode.indexOf(p)] : byClient[fromClient.indexOf(p)]));
      const ctText = inNs(NS_NODE, ['conntrack', '-L', '-p', 'tcp']);
      const ct = parseConntrack(ctText);
      const kernel: Kernel[] = packets.map((p, i) => {
        const e = ct.get(`${p.src}:${p.sport}>${p.dst}:${p.dport}`);
        return { outcome: outcomes[i], backend: e?.backend, replyDst: e?.replyDst };
      });

      // Both sides with kube-proxy's defaults: NodePorts on every local address and on 127.0.0.1 in
      // iptables mode, on the primary (InternalIP) address only in nftables mode.
      const tracer = await createTracer(model, { dataplane: { design: mode } });
      const seen = new Map<string, { kernel: Map<string, number>; dpemu: Map<string, number> }>();
      let cases = 0, localhost = 0, secondAddress = 0;
      const internalLocal = new Set<string>(); // the internalTrafficPolicy Local service's verdicts
      packets.forEach((p, i) => {
        const rec = tracer.trace({ src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, proto: 'TCP', flags: 'S', node: 'node-a', t: 1 + i * 0.001 }, i + 1) as TraceRecord;
        const k = kernel[i];
        const where = `${p.src}:${p.sport} -> ${p.dst}:${p.dport} (${p.svc}); dpemu ${rec.verdict} ${rec.drop_reason ?? ''} ${rec.backend ?? ''} src ${rec.src}; kernel ${k.outcome} ${k.backend ?? ''} reply to ${k.replyDst ?? ''}`;
        // No frontend at all (a NodePort address or 127.0.0.1 the mode does not serve): the packet is the
        // node's own, and with nothing listening its stack refuses the connection.
        const dpemuVerdict = rec.backend ? 'dnat' : rec.verdict === 'REJECTED' || (!rec.frontend && rec.verdict === 'FORWARDED') ? 'refused' : 'dropped';
        const kernelVerdict = k.backend && k.backend !== `${p.dst}:${p.dport}` ? 'dnat' : k.outcome === 'refused' ? 'refused' : 'dropped';
        expect(kernelVerdict, where).toBe(dpemuVerdict);
        if (p.svc === 's9') internalLocal.add(dpemuVerdict);
        if (dpemuVerdict === 'dnat') {
          // The masquerade decision and address: the reply goes to the node's address, or to the
          // client. Hairpin (the chosen backend is the client) depends on the random choice, so the
          // expectation is dpemu's decision for the kernel's backend.
          const ipOf = (b: string) => b.slice(0, b.lastIndexOf(':'));
          const masqOtherwise = rec.src !== p.src && ipOf(rec.backend!) !== p.src;
          // (When dpemu's own choice was the client, its decision for another backend is not known.)
          const dpemuHairpin = ipOf(rec.backend!) === p.src;
          if (!dpemuHairpin || ipOf(k.backend!) === p.src) expect(k.replyDst, where).toBe(masqOtherwise || ipOf(k.backend!) === p.src ? NODE_IP : p.src);
          if (rec.src !== p.src) expect(rec.src, where).toBe(NODE_IP);
          if (p.src === '127.0.0.1') localhost++;
          if (p.dst === NODE_IP2) secondAddress++;
          const key = `${p.dst}:${p.dport}<${p.src}${affinity.has(p.svc) ? ' affinity' : ''}`;
          const s = seen.get(key) ?? { kernel: new Map(), dpemu: new Map() };
          s.kernel.set(k.backend!, (s.kernel.get(k.backend!) ?? 0) + 1);
          s.dpemu.set(rec.backend!, (s.dpemu.get(rec.backend!) ?? 0) + 1);
          seen.set(key, s);
        }
        cases++;
      });
      // Random choices: the same set of backends, and the kernel's counts consistent with dpemu's
      // uniform choice (chi-square, p = 0.001).
      const CHI = [0, 10.83, 13.82, 16.27];
      for (const [key, s] of seen) {
        const n = [...s.kernel.values()].reduce((a, b) => a + b, 0);
        // ClientIP affinity: every repeat of a client goes to the one backend its first packet got.
        if (key.endsWith(' affinity')) { expect(s.kernel.size, key).toBe(1); expect(s.dpemu.size, key).toBe(1); continue; }
        if (n < 30) { for (const b of s.kernel.keys()) expect(s.dpemu.has(b) || n < s.dpemu.size * 5, key).toBe(true); continue; }
        expect([...s.kernel.keys()].sort(), key).toEqual([...s.dpemu.keys()].sort());
        const k = s.dpemu.size, e = n / k;
        if (k < 2) continue;
        const chi = [...s.kernel.values()].reduce((a, c) => a + (c - e) ** 2 / e, 0);
        expect(chi, `${key}: kernel ${JSON.stringify([...s.kernel])}`).toBeLessThan(CHI[k - 1] ?? 20);
      }
      // iptables mode DNATs NodePorts on 127.0.0.1 (every NodePort service here has endpoints); nftables does not.
      // NodePorts answer on the node's second address in iptables mode (every local address), not in
      // nftables mode (the primary address only).
      if (mode === 'iptables') { expect(localhost, 'localhost NodePorts DNATed').toBeGreaterThan(0); expect(secondAddress).toBeGreaterThan(0); }
      else { expect(localhost).toBe(0); expect(secondAddress).toBe(0); }
      console.log(`kernel differential, ${mode}, seed ${seed}: ${cases} packets compared, ${seen.size} NAT'd frontend/source pairs, ${localhost} localhost NodePort connections, internalTrafficPolicy Local: ${[...internalLocal].join('/')}`);
    } finally {
      tearDown();
    }
  }, 60_000);
});

if (reason !== undefined && !required) {
  describe('the Linux kernel differential test', () => { it.skip(`skipped: ${reason}`, () => {}); });
}
