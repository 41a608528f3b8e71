// dpemu trace and dpemu check: packets as JSON lines through a cluster loaded
// from manifests, one record per packet, the same on both backends; bad lines
// become error records and the stream goes on. End to end through the built
// CLI (node dist/src/cli.js, built by tsc in beforeAll).
import { describe, it, expect, beforeAll } from 'vitest';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../src/k8s/load.js';
import { createTracer, traceLines, traceStream, TraceRecord, TraceError, TraceOutput, TraceChange } from '../src/trace.js';
import { FIXTURES, fixtureFiles } from './k8s/helpers.js';
import { DESIGN_NAMES } from '../src/dataplane.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLUSTER = join(ROOT, 'test/k8s/fixtures/services/cluster');
const BROKEN = join(ROOT, 'test/k8s/fixtures/services/broken.yaml');

const model = () => loadManifests(fixtureFiles('services/cluster')).model;

/** One packet per rule, with replies and a few follow-ups; line 9 is not JSON. */
const SCENARIO = [
  { src: '10.244.1.100', dst: '10.96.1.1', sport: 40000, dport: 80 },                               // 1 ClusterIP, named targetPort
  { src: '10.244.1.100', dst: '10.96.1.1', sport: 40001, dport: 8081 },                             // 2 numeric targetPort
  { src: '10.244.1.100', dst: '10.96.1.7', sport: 40002, dport: 80 },                               // 3 cross-node (solo on n2)
  { src: '10.244.2.20', dst: '10.244.1.100', sport: 9090, dport: 40002, flags: 'SA' },              // 4 its reply: reverse NAT
  { src: '10.244.1.100', dst: '10.96.1.7', sport: 40002, dport: 80, flags: 'A', t: 1 },             // 5 established
  { src: '203.0.113.7', dst: '192.168.0.2', sport: 41000, dport: 30080, t: 1 },                     // 6 NodePort, ETP Cluster: SNAT
  { src: '203.0.113.7', dst: '172.18.0.10', sport: 41001, dport: 80, node: 'n1', t: 1 },            // 7 LB, ETP Local: client kept
  { src: '203.0.113.7', dst: '192.168.0.3', sport: 41002, dport: 30081, t: 1 },                     // 8 ETP Local, no local endpoint: DROPPED
  'not json {',                                                                                      // 9 error, the stream goes on
  { src: '198.51.100.99', dst: '172.18.0.10', sport: 41003, dport: 80, node: 'n1', t: 2 },          // 10 outside the source ranges
  { src: '198.51.100.99', dst: '198.51.100.10', sport: 41004, dport: 80, node: 'n2', t: 2 },        // 11 external IP
  { src: '10.244.3.100', dst: '10.96.1.4', sport: 42000, dport: 80, t: 2 },                         // 12 ITP Local, none on n3: DROPPED
  { src: '10.244.1.10', dst: '10.96.1.4', sport: 42001, dport: 80, t: 2 },                          // 13 hairpin
  { src: '10.244.2.100', dst: '10.96.1.12', sport: 42002, dport: 80, t: 2 },                        // 14 topology hints (z2)
  { src: '10.244.2.100', dst: '10.96.1.9', sport: 42003, dport: 80, t: 2 },                         // 15 terminating fallback
  { src: '10.244.2.100', dst: '10.96.1.10', sport: 42004, dport: 80, t: 2 },                        // 16 ready only, excluded listed
  { src: '10.244.2.100', dst: '10.96.1.6', sport: 5000, dport: 53, proto: 'UDP', t: 2 },            // 17 UDP
  { src: '10.244.2.100', dst: '10.96.1.6', sport: 5000, dport: 53, proto: 'SCTP', t: 2 },           // 18 SCTP, same port
  { src: '10.244.1.100', dst: '10.96.1.8', sport: 42005, dport: 80, t: 2 },                         // 19 no endpoints: REJECTED
  { src: '203.0.113.7', dst: '10.96.1.7', sport: 42006, dport: 80, node: 'n1', t: 2 },              // 20 ClusterIP from outside: SNAT
  { src: '10.244.1.100', dst: '10.96.1.5', sport: 42007, dport: 80, t: 3 },                         // 21 affinity
  { src: '10.244.1.100', dst: '10.96.1.5', sport: 42008, dport: 80, t: 4 },                         // 22 affinity: same backend
  { src: '10.244.1.100', dst: '10.244.2.10', sport: 42009, dport: 8080, t: 4 },                     // 23 pod to pod: not DNATed
].map((p) => (typeof p === 'string' ? p : JSON.stringify(p)));

const isError = (r: TraceOutput): r is TraceError => 'error' in r;

describe('trace records', () => {
  it('are the same on the wasm and the reference backends', async () => {
    const wasm = traceLines(await createTracer(model(), { backend: 'wasm' }), SCENARIO);
    const ref = traceLines(await createTracer(model(), { backend: 'reference' }), SCENARIO);
    expect(wasm).toHaveLength(SCENARIO.length);
    expect(ref).toEqual(wasm);
  });

  it('explain each packet', async () => {
    const rs = traceLines(await createTracer(model(), { backend: 'wasm' }), SCENARIO);
    const at = (line: number) => {
      const r = rs.find((x) => x.line === line)!;
      if (isError(r)) throw new Error(r.error);
      return r as TraceRecord;
    };
    expect(at(1)).toMatchObject({ node: 'n1', verdict: 'FORWARDED', ct_state: 'NEW', service: 'default/web:http', dport: 8080, nat: ['DNAT'],
      frontend: { kind: 'ClusterIP', address: '10.96.1.1:80', scope: 'any', node: null } });
    expect(at(2)).toMatchObject({ service: 'default/web:alt', dport: 8080 });
    expect(at(3)).toMatchObject({ backend: '10.244.2.20:9090', delivered_node: 'n2', cross_node: true });
    expect(at(4)).toMatchObject({ node: 'n2', ct_state: 'REPLY', nat: ['REVNAT'], src: '10.96.1.7', sport: 80, dst: '10.244.1.100', dport: 40002, delivered_node: 'n1' });
    expect(at(5)).toMatchObject({ ct_state: 'ESTABLISHED', flags: 'A', t: 1 });
    expect(at(6)).toMatchObject({ node: 'n2', src: '192.168.0.2', nat: ['DNAT', 'SNAT'], frontend: { kind: 'NodePort' } });
    expect(at(7)).toMatchObject({ src: '203.0.113.7', dst: '10.244.1.10', frontend: { kind: 'LoadBalancer', scope: 'external', node: 'n1' } });
    expect(at(8)).toMatchObject({ node: 'n3', verdict: 'DROPPED', drop_reason: 'SERVICE_BACKEND_NOT_FOUND', delivered_node: null });
    expect(rs[8]).toEqual({ line: 9, error: expect.stringMatching(/^line 9: not JSON/) });
    expect(at(10)).toMatchObject({ verdict: 'DROPPED', drop_reason: 'DENIED_BY_LB_SRC_RANGE_CHECK' });
    expect(at(11)).toMatchObject({ verdict: 'FORWARDED', src: '198.51.100.99', frontend: { kind: 'externalIP', node: 'n2' } });
    expect(at(12)).toMatchObject({ verdict: 'DROPPED', rule: 'internalTrafficPolicy=Local: no local endpoint of 3 on n3: dropped' });
    expect(at(13)).toMatchObject({ src: '192.168.0.1', dst: '10.244.1.10', nat: ['DNAT', 'SNAT', 'HAIRPIN'] });
    expect(at(14)).toMatchObject({ backend: '10.244.2.40:8080', frontend: { scope: 'node', node: 'n2' } });
    expect(at(15).backend).toBe('10.244.1.30:8080');
    expect(at(16).excluded.map((x) => x.reason)).toEqual(['terminating', 'not-ready']);
    expect(at(17)).toMatchObject({ proto: 'UDP', flags: null, service: 'default/dns:dns', backend: '10.244.1.53:5353' });
    expect(at(18)).toMatchObject({ proto: 'SCTP', service: 'default/dns:dns-sctp', backend: '10.244.1.53:5300' });
    expect(at(19)).toMatchObject({ verdict: 'REJECTED', service: 'default/empty:http' });
    expect(at(20)).toMatchObject({ src: '192.168.0.1', nat: ['DNAT', 'SNAT'] });
    expect(at(22)).toMatchObject({ backend: at(21).backend, nat: ['DNAT', 'AFFINITY'] });
    expect(at(23)).toMatchObject({ service: null, frontend: null, rule: null, nat: [], excluded: [], delivered_node: 'n2' });
  });

  it('turn bad lines into error records naming the line', async () => {
    const tr = await createTracer(model(), { backend: 'reference' });
    const bad = [
      ['[1]', 'expected a JSON object'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1}', '"dport" is missing'],
      ['{"src":"10.244.1.300","dst":"10.96.1.1","sport":1,"dport":80}', '"src": "10.244.1.300" is not an IPv4 address'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"proto":"GRE"}', '"proto": "GRE" is not TCP, UDP, SCTP or ICMP'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"flags":"SX"}', '"flags": unknown TCP flag "X"'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"proto":"UDP","flags":"S"}', '"flags" apply to TCP only'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"node":"n9"}', '"node": "n9" is not a node of the cluster (n1, n2, n3)'],
      ['{"src":"203.0.113.1","dst":"10.96.1.1","sport":1,"dport":80}', '"node" is required'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"color":"red"}', 'unknown field "color"'],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":1,"dport":80,"t":10}', ''],
      ['{"src":"10.244.1.100","dst":"10.96.1.1","sport":2,"dport":80,"t":5}', '"t": 5 is earlier than the previous packet\'s 10'],
    ] as const;
    bad.forEach(([line, msg], i) => {
      const r = tr.traceLine(line, i + 1)!;
      if (msg === '') expect(isError(r)).toBe(false);
      else expect(r).toEqual({ line: i + 1, error: expect.stringContaining(`line ${i + 1}: ${msg}`) });
    });
    expect(tr.traceLine('   ', 99)).toBeUndefined();
  });

  it('advance virtual time and collect expired flows', async () => {
    const tr = await createTracer(model(), { backend: 'wasm' });
    const q = { src: '10.244.2.100', dst: '10.96.1.6', sport: 5000, dport: 53, proto: 'UDP' };
    // The client's node and the DNS pod's node each track the flow (conntrack is per node): two entries.
    const first = tr.trace({ ...q, t: 0 }, 1) as TraceRecord;
    expect(first).toMatchObject({ ct_state: 'NEW', hops: [{ stage: 'NEW', verdict: 'FORWARDED', nat: ['DNAT'] }, { stage: 'NEW', verdict: 'FORWARDED', nat: [] }] });
    expect(first.hops![1].node).toBe(first.delivered_node);
    expect(tr.trace({ ...q, t: 59 }, 2)).toMatchObject({ ct_state: 'ESTABLISHED', hops: [{ stage: 'ESTABLISHED' }, { stage: 'ESTABLISHED' }] });
    expect(tr.dp.ctCount()).toBe(2);
    expect(tr.trace({ src: '10.244.2.100', dst: '10.244.1.100', sport: 1, dport: 2, proto: 'UDP', t: 200 }, 3)).toMatchObject({ ct_state: 'NEW' });
    expect(tr.dp.ctCount()).toBe(2); // the DNS flow was collected at t=200, only the new one is left (on both nodes)
    expect(tr.trace({ ...q }, 4)).toMatchObject({ ct_state: 'NEW', t: 200 }); // t defaults to the previous packet's
  });

  it('stream: one JSON line per input line, an error mid-stream does not stop it', async () => {
    const tr = await createTracer(model(), { backend: 'reference' });
    const out: string[] = [];
    const input = Readable.from([SCENARIO.slice(0, 10).join('\n') + '\n\n', SCENARIO.slice(10).join('\n')]);
    const res = await traceStream(input, (l) => out.push(l), tr);
    expect(res).toEqual({ packets: SCENARIO.length - 1, errors: 1, changes: 0 });
    const recs = out.map((l) => JSON.parse(l));
    expect(recs.map((r) => r.line)).toEqual([...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 13 }, (_, i) => i + 12)]);
    expect(recs[8].error).toMatch(/^line 9:/);
    expect(recs[9]).toMatchObject({ line: 10, drop_reason: 'DENIED_BY_LB_SRC_RANGE_CHECK' });
  });
});

/** Control lines: the cluster changes while the flows go on (paths relative to ROOT). */
const CHANGES_DIR = 'test/k8s/fixtures/services/changes';
const CLIENT1 = '10.244.1.100', DNS_VIP = '10.96.1.6', API_VIP = '10.96.1.60';
const CHANGES = [
  { src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP', t: 0 },                     // 1 UDP flow: dns-1
  { src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53 },                                         // 2 TCP flow: dns-1
  { src: '10.244.1.53', dst: CLIENT1, sport: 5353, dport: 6000, flags: 'SA' },                    // 3 its reply
  { src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53, flags: 'A' },                             // 4 established
  { apply: `${CHANGES_DIR}/dns-2.yaml`, t: 1 },                                                   // 5 a second DNS pod
  { src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP' },                           // 6 UDP flow kept on dns-1
  { delete: { kind: 'Pod', namespace: 'default', name: 'dns-1' }, t: 2 },                          // 7 dns-1 goes: UDP flushed
  { src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP' },                           // 8 UDP: a new flow, on dns-2
  { src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53, flags: 'A' },                             // 9 TCP: still dns-1
  { src: CLIENT1, dst: DNS_VIP, sport: 6001, dport: 53 },                                         // 10 new TCP: dns-2
  { src: CLIENT1, dst: API_VIP, sport: 7000, dport: 8000 },                                       // 11 no such service yet
  { apply: [`${CHANGES_DIR}/api.yaml`] },                                                         // 12 a new service
  { src: CLIENT1, dst: API_VIP, sport: 7001, dport: 8000 },                                       // 13 DNATed
  { apply: `${CHANGES_DIR}/nope.yaml` },                                                          // 14 error
  { delete: { kind: 'Pod', name: 'nope' } },                                                      // 15 error
  { apply: `${CHANGES_DIR}/api.yaml`, src: CLIENT1 },                                             // 16 error: mixed
  { src: CLIENT1, dst: API_VIP, sport: 7002, dport: 8000 },                                       // 17 still works
  { delete: `${CHANGES_DIR}/dns-2.yaml`, t: 3 },                                                  // 18 the objects a file names
  { src: CLIENT1, dst: DNS_VIP, sport: 5000, dport: 53, proto: 'UDP' },                           // 19 no endpoint left
  { src: CLIENT1, dst: DNS_VIP, sport: 6000, dport: 53, flags: 'A' },                             // 20 TCP: still dns-1
].map((p) => JSON.stringify(p));

const changing = (backend: 'wasm' | 'reference') => createTracer(fixtureFiles('services/cluster'), { backend, cwd: ROOT });

describe('trace control lines', () => {
  it('are the same on the wasm and the reference backends', async () => {
    const wasm = traceLines(await changing('wasm'), CHANGES);
    const ref = traceLines(await changing('reference'), CHANGES);
    expect(wasm).toHaveLength(CHANGES.length);
    expect(ref).toEqual(wasm);
  });

  it.each(['wasm', 'reference'] as const)('apply and delete objects while flows go on (%s)', async (backend) => {
    const tr = await changing(backend);
    const rs = traceLines(tr, CHANGES);
    const at = (line: number) => {
      const r = rs.find((x) => x.line === line)!;
      if (isError(r)) throw new Error(r.error);
      return r as TraceRecord;
    };
    const change = (line: number) => rs.find((x) => x.line === line) as TraceChange;
    expect(at(1)).toMatchObject({ ct_state: 'NEW', backend: '10.244.1.53:5353' });
    expect(at(2)).toMatchObject({ ct_state: 'NEW', backend: '10.244.1.53:5353' });
    expect(at(4)).toMatchObject({ ct_state: 'ESTABLISHED' });

    expect(change(5)).toMatchObject({ line: 5, t: 1, applied: { objects: { added: ['Pod default/dns-2'], replaced: [], removed: [] }, flushed: [] } });
    expect(change(5).applied.services.set).toBe(3);
    expect(at(6)).toMatchObject({ t: 1, ct_state: 'ESTABLISHED', backend: '10.244.1.53:5353' });

    expect(change(7)).toMatchObject({ line: 7, t: 2, applied: { objects: { added: [], replaced: [], removed: ['Pod default/dns-1'] },
      flushed: [{ backend: '10.244.1.53:5353/UDP', flows: 1 }] } });
    // UDP: flushed, so a new flow to the endpoint that is left; TCP: left alone, still to dns-1.
    expect(at(8)).toMatchObject({ t: 2, ct_state: 'NEW', backend: '10.244.2.53:5353', dst: '10.244.2.53', service: 'default/dns:dns' });
    expect(at(9)).toMatchObject({ verdict: 'FORWARDED', ct_state: 'ESTABLISHED', backend: '10.244.1.53:5353', dst: '10.244.1.53', delivered_node: 'n1' });
    expect(at(10)).toMatchObject({ ct_state: 'NEW', backend: '10.244.2.53:5353' });

    expect(at(11)).toMatchObject({ service: null, nat: [], dst: API_VIP });
    expect(change(12).applied.objects.added).toEqual(['Service default/api']);
    expect(at(13)).toMatchObject({ service: 'default/api:http', nat: ['DNAT'], dst: '10.244.2.20', dport: 9090,
      frontend: { kind: 'ClusterIP', address: `${API_VIP}:8000` } });

    expect(rs[13]).toEqual({ line: 14, error: expect.stringMatching(/^line 14: apply: .*nope\.yaml/) });
    expect(rs[14]).toEqual({ line: 15, error: 'line 15: delete: Pod default/nope is not in the cluster' });
    expect(rs[15]).toEqual({ line: 16, error: expect.stringContaining('line 16: apply: unknown field "src"') });
    expect(at(17)).toMatchObject({ service: 'default/api:http', dst: '10.244.2.20' });

    expect(change(18)).toMatchObject({ t: 3, applied: { objects: { removed: ['Pod default/dns-2'] }, flushed: [{ backend: '10.244.2.53:5353/UDP', flows: 1 }] } });
    expect(at(19)).toMatchObject({ ct_state: 'NONE', verdict: 'REJECTED', service: 'default/dns:dns' });
    expect(at(20)).toMatchObject({ ct_state: 'ESTABLISHED', backend: '10.244.1.53:5353' });
    expect(tr.compiled.model.pods.some((p) => p.name.startsWith('dns-'))).toBe(false);
  });

  it('check their fields, and need a tracer created from files', async () => {
    const tr = await changing('reference');
    const bad = [
      ['{"apply": []}', 'line 1: "apply": an empty list'],
      ['{"apply": 3}', 'line 2: "apply": 3 is not a path'],
      ['{"delete": {"kind": "Pod"}}', 'line 3: "delete": "name" must be a non-empty string'],
      ['{"delete": [{"kind": "Pod", "name": "x", "uid": 1}]}', 'line 4: "delete"[0]: unknown field "uid" (known: kind, namespace, name)'],
      ['{"apply": "x.yaml", "t": -1}', 'line 5: "t": -1 is not a number of seconds'],
    ] as const;
    bad.forEach(([line, msg], i) => expect(tr.traceLine(line, i + 1)).toEqual({ line: i + 1, error: expect.stringContaining(msg) }));
    tr.traceLine(JSON.stringify({ src: CLIENT1, dst: DNS_VIP, sport: 1, dport: 53, t: 5 }), 6);
    expect(tr.traceLine(`{"apply": "${CHANGES_DIR}/api.yaml", "t": 4}`, 7)).toEqual({ line: 7, error: expect.stringContaining('"t": 4 is earlier') });
    expect(tr.compiled.model.services.some((s) => s.name === 'api')).toBe(false);

    const fixed = await createTracer(model(), { backend: 'reference' });
    expect(fixed.traceLine(`{"apply": "${CHANGES_DIR}/api.yaml"}`, 1)).toEqual({ line: 1, error: expect.stringContaining('cannot change') });
  });

  it('stream: counts changes apart from packets', async () => {
    const out: string[] = [];
    const res = await traceStream(Readable.from([CHANGES.join('\n')]), (l) => out.push(l), await changing('wasm'));
    expect(res).toEqual({ packets: 13, errors: 3, changes: 4 });
    expect(out.map((l) => JSON.parse(l))).toEqual(traceLines(await changing('wasm'), CHANGES).map((r) => JSON.parse(JSON.stringify(r))));
  });
});

describe('the dpemu command', () => {
  const cli = join(ROOT, 'dist/src/cli.js');
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });

  beforeAll(() => {
    // Build the CLI (type errors elsewhere do not stop tsc from emitting).
    spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
    expect(existsSync(cli)).toBe(true);
  }, 120_000);

  it('trace reads stdin and writes the same records as the library, on both backends', async () => {
    const input = SCENARIO.join('\n') + '\n';
    const wasm = run(['trace', '--cluster', CLUSTER], input);
    expect(wasm.status, wasm.stderr).toBe(0);
    expect(wasm.stderr).toContain('1 input line could not be traced');
    const lines = wasm.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(traceLines(await createTracer(model(), { backend: 'wasm' }), SCENARIO).map((r) => JSON.parse(JSON.stringify(r))));
    const ref = run(['trace', '--cluster', join(CLUSTER, '00-nodes.yaml'), '--cluster', join(CLUSTER, '10-pods.yaml'), '--cluster', join(CLUSTER, '20-services.yaml'),
      '--cluster', join(CLUSTER, '30-slices.yaml'), '--backend', 'reference'], input);
    expect(ref.stdout).toBe(wasm.stdout);
  });

  it('trace and run --workers 2 give what one worker gives', () => {
    const input = SCENARIO.join('\n') + '\n';
    const one = run(['trace', '--cluster', CLUSTER], input), two = run(['trace', '--cluster', CLUSTER, '--workers', '2'], input);
    expect(two.status, two.stderr).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    const bad = run(['trace', '--cluster', CLUSTER, '--workers', '0'], input);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/workers/);
    // dpemu run: the same report but for the wall-clock figures
    const wall = /wall|perSecond|Ms$/i;
    const report = (w: string) => {
      const r = run(['run', '--json', '--no-progress', '--duration', '0.5', '--workers', w]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.stringify(JSON.parse(r.stdout), (k, v) => (wall.test(k) ? undefined : v));
    };
    expect(report('2')).toBe(report('1'));
  }, 120_000);

  it('trace reads --packets and takes --algo and --masquerade-all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-trace-'));
    const file = join(dir, 'packets.jsonl');
    writeFileSync(file, `${JSON.stringify({ src: '10.244.1.100', dst: '10.96.1.1', sport: 1000, dport: 80 })}\n`);
    const r = run(['trace', '--cluster', CLUSTER, '--packets', file, '--algo', 'maglev', '--masquerade-all']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'FORWARDED', src: '192.168.0.1', nat: ['DNAT', 'SNAT'] });
    const bad = run(['trace', '--cluster', CLUSTER, '--algo', 'nope'], '');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('Allowed choices are');
  });

  it('trace applies and deletes objects mid-stream, the same records as the library, on both backends', async () => {
    const input = CHANGES.join('\n') + '\n';
    const wasm = run(['trace', '--cluster', CLUSTER], input);
    expect(wasm.status, wasm.stderr).toBe(0);
    expect(wasm.stderr).toContain('3 input lines could not be traced');
    const lines = wasm.stdout.trim().split('\n').map((l) => JSON.parse(l));
    // The library tracer reads paths relative to ROOT (cwd option), the command relative to its current directory (ROOT).
    expect(lines).toEqual(traceLines(await changing('wasm'), CHANGES).map((r) => JSON.parse(JSON.stringify(r).replaceAll(`${ROOT}/`, ''))));
    const ref = run(['trace', '--cluster', CLUSTER, '--backend', 'reference'], input);
    expect(ref.stdout).toBe(wasm.stdout);
  });

  it('demo --design: each design runs the example on both backends alike; verdicts, drops and states agree across designs', () => {
    // The example picks its services by algorithm, so which service each connection uses may differ by design.
    const outcome = (r: Record<string, unknown>) => [r.note, r.verdict, r.drop_reason, r.ct_state];
    const byDesign = DESIGN_NAMES.map((design) => {
      const wasm = run(['demo', '--json', '--design', design]);
      expect(wasm.status, wasm.stderr).toBe(0);
      expect(run(['demo', '--json', '--design', design, '--backend', 'reference']).stdout, design).toBe(wasm.stdout);
      return wasm.stdout.trim().split('\n').map((l) => outcome(JSON.parse(l)));
    });
    expect(byDesign[0].length).toBeGreaterThan(10);
    for (const d of byDesign.slice(1)) expect(d).toEqual(byDesign[0]);
    expect(run(['demo', '--design', 'nope']).status).not.toBe(0);
  });

  it('check: exit 0 with warnings only, 1 with errors, 1 when the manifests do not load', () => {
    const ok = run(['check', '--cluster', CLUSTER]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('warning [no-endpoints] Service default/empty');
    expect(ok.stdout).toContain('warning [all-endpoints-unready] Service default/drain');
    expect(ok.stdout).toMatch(/3 nodes, 8 pods, 16 services, 14 EndpointSlices: 0 errors, 2 warnings\n$/);
    const netpol = run(['check', '--cluster', 'examples/netpol']);
    expect(netpol.status, netpol.stderr).toBe(0);
    expect(netpol.stdout).toBe('2 nodes, 6 pods, 4 services, 4 EndpointSlices, 6 NetworkPolicies, 2 admin policies: 0 errors, 0 warnings\n');

    const broken = run(['check', '--cluster', BROKEN]);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toContain('error [selector-matches-nothing] Service default/typo');
    expect(broken.stdout).toContain('error [node-port-conflict] nodePort 30100');
    expect(broken.stdout).toContain('2 errors, 0 warnings');

    const json = run(['check', '--cluster', BROKEN, '--json']);
    expect(json.status).toBe(1);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l).code)).toEqual(['selector-matches-nothing', 'node-port-conflict']);

    const dir = mkdtempSync(join(tmpdir(), 'dpemu-check-'));
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}\n');
    const unloadable = run(['check', '--cluster', join(dir, 'bad.yaml')]);
    expect(unloadable.status).toBe(1);
    expect(unloadable.stderr).toMatch(/^dpemu: .*bad\.yaml: document 1 \(Service default\/x\): spec\.ports\[0\]\.port/);
    const missing = run(['check', '--cluster', join(dir, 'nope.yaml')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no such file');
  });
});

describe('ICMP packets', () => {
  it('are traced (no ports, no service), not refused', async () => {
    const tr = await createTracer(model(), { backend: 'wasm' });
    const r = tr.trace({ src: '10.244.1.100', dst: '10.244.2.100', proto: 'ICMP' }, 1);
    expect(r).toMatchObject({ proto: 'ICMP', verdict: 'FORWARDED', service: null, sport: 0, dport: 0, flags: null });
  });
});
