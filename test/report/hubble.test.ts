// dpemu's records as `hubble observe -o json` flows: every field path and JSON type, and the field order,
// as in a fixture shaped like real Hubble output (test/report/fixtures/hubble-observe.jsonl), and the
// values a Hubble user reads: verdict, drop reason (code and name), direction, endpoints with namespace,
// pod name, labels, identity and workload, the Service, reply and translated source, node and time.

import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createEmulator, type Emulator, type TraceRecord } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { HubbleConverter, hubbleConverter } from '../../src/output/hubble.js';
import { ROOT, ensureBuilt } from '../helpers/build.js';

const FIXTURE = readFileSync('test/report/fixtures/hubble-observe.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** Every path of a JSON value with its type ("a.b[].c" -> "string"), and each object's keys in order. */
function walk(v: unknown, path: string, types: Map<string, Set<string>>, orders: Map<string, string[][]>): void {
  const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  if (!types.has(path)) types.set(path, new Set());
  types.get(path)!.add(type);
  if (Array.isArray(v)) for (const x of v) walk(x, `${path}[]`, types, orders);
  else if (type === 'object') {
    const keys = Object.keys(v as object);
    if (!orders.has(path)) orders.set(path, []);
    orders.get(path)!.push(keys);
    for (const k of keys) walk((v as Record<string, unknown>)[k], `${path}.${k}`, types, orders);
  }
}

/** The keys of an object path in the order the fixture's lines agree on. */
function mergedOrder(lists: string[][]): string[] {
  const out: string[] = [];
  for (const keys of lists) {
    let at = -1;
    for (const k of keys) {
      const i = out.indexOf(k);
      if (i >= 0) at = i;
      else out.splice(++at, 0, k);
    }
  }
  return out;
}

const fixtureTypes = new Map<string, Set<string>>(), fixtureOrders = new Map<string, string[][]>();
for (const line of FIXTURE) walk(line, '', fixtureTypes, fixtureOrders);
// Fields of flow.proto these lines happen not to show (other TCP flags, other policy lists, SCTP/ICMP).
const PROTO_ONLY: Record<string, string> = {
  '.flow.l4.TCP.flags.FIN': 'boolean', '.flow.l4.TCP.flags.RST': 'boolean', '.flow.l4.TCP.flags.PSH': 'boolean',
  '.flow.egress_denied_by': 'array', '.flow.egress_denied_by[]': 'object', '.flow.egress_denied_by[].name': 'string', '.flow.egress_denied_by[].kind': 'string',
  '.flow.ingress_allowed_by[].namespace': 'string',
};

async function traced(cluster: string, packets: string): Promise<{ emu: Emulator; records: TraceRecord[] }> {
  const emu = await createEmulator({ cluster: { files: readManifestFiles(cluster) } });
  const out = emu.trace(readFileSync(packets, 'utf8').trim().split('\n'), { readFiles: readManifestFiles });
  return { emu, records: out.filter((r): r is TraceRecord => 'verdict' in r) };
}

describe('Hubble flows', () => {
  it('have the field paths, JSON types and field order of hubble observe -o json', async () => {
    const all = [await traced('examples/netpol', 'examples/netpol-packets.jsonl'), await traced('examples/shop', 'examples/shop-packets.jsonl')];
    let n = 0;
    for (const { emu, records } of all) {
      const conv = hubbleConverter(emu);
      for (const r of records) {
        const line = JSON.parse(conv.json(r));
        const types = new Map<string, Set<string>>(), orders = new Map<string, string[][]>();
        walk(line, '', types, orders);
        for (const [path, ts] of types) {
          const known = fixtureTypes.get(path) ?? (PROTO_ONLY[path] ? new Set([PROTO_ONLY[path]]) : undefined);
          expect(known, `${path} is not a field of Hubble's flows`).toBeDefined();
          for (const t of ts) expect(known!.has(t), `${path}: ${t}`).toBe(true);
        }
        for (const [path, lists] of orders) {
          const order = mergedOrder(fixtureOrders.get(path) ?? []);
          const at = lists[0].map((k) => order.indexOf(k)).filter((i) => i >= 0);
          expect(at, `field order of ${path || 'the line'}: ${lists[0].join(', ')}`).toEqual([...at].sort((a, b) => a - b));
        }
        n++;
      }
    }
    expect(n).toBeGreaterThan(20);
  });

  it('say what Hubble would: verdicts, drop reasons, direction, endpoints, Services, replies and NAT', async () => {
    const { emu, records } = await traced('examples/netpol', 'examples/netpol-packets.jsonl');
    const conv = hubbleConverter(emu, { epochMs: Date.UTC(2026, 11, 4) });
    const [syn, synAck, denied] = records.map((r) => conv.event(r));

    expect(syn.time).toBe('2026-12-04T00:00:01Z');
    expect(syn.node_name).toBe(syn.flow.node_name);
    expect(syn.flow).toMatchObject({
      verdict: 'FORWARDED', Type: 'L3_L4', is_reply: false, traffic_direction: 'INGRESS', trace_observation_point: 'TO_ENDPOINT',
      IP: { source: '10.244.1.7', destination: '10.244.1.6', ipVersion: 'IPv4' }, // the backend after DNAT
      l4: { TCP: { source_port: 41000, destination_port: 8000, flags: { SYN: true } } },
      destination_service: { name: 'api', namespace: 'shop' }, event_type: { type: 4 }, Summary: 'TCP Flags: SYN',
      egress_allowed_by: [{ name: 'frontend-egress', namespace: 'shop', kind: 'NetworkPolicy' }],
      ingress_allowed_by: [{ name: 'api-ingress', namespace: 'shop', kind: 'NetworkPolicy' }],
    });
    expect(syn.flow.source).toMatchObject({ namespace: 'shop', workloads: [{ name: 'frontend', kind: 'Deployment' }] });
    expect(syn.flow.source.pod_name).toMatch(/^frontend-/);
    expect(syn.flow.source.labels).toContain('k8s:app=frontend');
    expect(syn.flow.source.labels).toContain('k8s:io.kubernetes.pod.namespace=shop');
    expect(syn.flow.source.labels).toEqual([...syn.flow.source.labels].sort());
    expect(syn.flow.source.identity).toBeGreaterThanOrEqual(256);
    expect(syn.flow.source.identity).not.toBe(syn.flow.destination.identity);
    expect(syn.flow).not.toHaveProperty('drop_reason');

    expect(synAck.time).toBe('2026-12-04T00:00:01.001Z');
    expect(synAck.flow).toMatchObject({
      is_reply: true, reply: true, traffic_direction: 'EGRESS', source_service: { name: 'api', namespace: 'shop' },
      IP: { source: '10.244.1.6', source_xlated: '10.96.0.12', destination: '10.244.1.7' }, Summary: 'TCP Flags: SYN, ACK',
    });
    expect(Object.keys(synAck.flow.IP)).toEqual(['source', 'source_xlated', 'destination', 'ipVersion']);

    expect(denied.flow).toMatchObject({
      verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', traffic_direction: 'EGRESS',
      event_type: { type: 1, sub_type: 133 },
    });
    expect(denied.flow).not.toHaveProperty('trace_observation_point');

    // A deny rule of an admin policy: POLICY_DENY (181), and the policy named.
    const anp = records.map((r) => conv.flow(r)).find((f) => f.drop_reason === 181 && f.traffic_direction === 'EGRESS')!;
    expect(anp).toMatchObject({ drop_reason_desc: 'POLICY_DENY', egress_denied_by: [{ name: 'isolate-sandbox', kind: 'AdminNetworkPolicy' }] });
  });

  it('name the world, the host and the other nodes by their reserved identities', async () => {
    const { emu, records } = await traced('examples/shop', 'examples/shop-packets.jsonl');
    const conv = hubbleConverter(emu);
    const flows = records.map((r) => conv.flow(r));
    const masq = flows.find((f) => f.IP.source === '203.0.113.50' && f.verdict === 'FORWARDED')!;
    expect(masq.source).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(masq.IP.source_xlated).toMatch(/^192\.168\./); // masqueraded to the node's address
    const noBackend = flows.find((f) => f.drop_reason_desc === 'SERVICE_BACKEND_NOT_FOUND')!;
    expect(noBackend).toMatchObject({ verdict: 'DROPPED', drop_reason: 158, destination_service: { name: 'web-public', namespace: 'shop' } });
    const direct = new HubbleConverter([{ address: '192.168.1.10', kind: 'node', namespace: '', name: 'node-a', labels: {}, node: 'node-a', identity: 1, endpointId: 0, owner: null },
      { address: '192.168.1.11', kind: 'node', namespace: '', name: 'node-b', labels: {}, node: 'node-b', identity: 1, endpointId: 0, owner: null }]);
    const f = direct.flow({ ...records[0], node: 'node-a', in: { ...records[0].in, src: '192.168.1.10' }, dst: '192.168.1.11', delivered_node: null, verdict: 'FORWARDED' });
    expect(f.source).toEqual({ identity: 1, labels: ['reserved:host'] });
    expect(f.destination).toEqual({ identity: 6, labels: ['reserved:remote-node'] });
    expect(f.trace_observation_point).toBe('TO_STACK');
  });

  it('come out of dpemu trace --output hubble, one per packet', () => {
    ensureBuilt();
    const res = spawnSync(process.execPath, ['dist/src/cli.js', 'trace', '--cluster', 'examples/netpol', '--packets', 'examples/netpol-packets.jsonl', '--output', 'hubble'],
      { cwd: ROOT, encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(readFileSync('examples/netpol-packets.jsonl', 'utf8').trim().split('\n').length);
    expect(lines.every((l) => Object.keys(l).join() === 'flow,node_name,time')).toBe(true);
    expect(lines[2].flow).toMatchObject({ verdict: 'DROPPED', drop_reason_desc: 'POLICY_DENIED' });
  });
});
