// A node failing and restarting, as a simulator drives it through the library API and `dpemu trace` through
// control lines: the node's conntrack and affinity are lost, packets to or through it are dropped, its pods'
// endpoints go not ready so Services stop choosing them, and it comes back empty; an agent restart loses
// nothing. On both backends, which must agree record for record.
import { describe, it, expect } from 'vitest';
import { createEmulator, restoreEmulator, InputError, Emulator, FlowRecord } from '../src/index.node.js';
type BackendKind = (typeof kinds)[number];

// Three default nodes (node-1..node-3, as kind would give an app's manifests), six web pods spread over them,
// and a client pod; the tests fail a node other than the client's ("other") or the client's own ("home").
const APP = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec: {containers: [{name: c, image: curl}]}
`;

const kinds = ['wasm', 'reference'] as const;
const nodeOf = (emu: Emulator, addr: string): string | undefined => emu.endpoints().find((e) => e.address === addr)?.node ?? undefined;
const syn = (sport: number, t = 1) => ({ src: 'pod/shop/client', dst: 'svc/shop/web:80', sport, flags: 'S', t });
const backendAddr = (r: FlowRecord): string => (r.backend ?? '').split(':')[0];
/** The nodes of the pods the web Service chooses from. */
const chosenNodes = (emu: Emulator): string[] =>
  emu.services().find((s) => s.service.startsWith('shop/web') && s.scope === 'any')!.backends.map((b) => nodeOf(emu, b.split(':')[0])!);

describe.each(kinds)('node failure and restart (%s backend)', (backend) => {
  async function app(): Promise<{ emu: Emulator; home: string; other: string; third: string }> {
    const emu = await createEmulator({ backend, seed: 5 });
    emu.apply(APP);
    const home = emu.endpoints().find((e) => e.name === 'client')!.node!;
    const [other, third] = ['node-1', 'node-2', 'node-3'].filter((n) => n !== home);
    return { emu, home, other, third };
  }

  it('loses the node\'s flows, drops what goes to it, and stops choosing its pods until it restarts', async () => {
    const { emu, home, other, third } = await app();
    // Connections from the client until one lands on a pod of another node.
    const first = emu.send(Array.from({ length: 40 }, (_, i) => syn(20000 + i)));
    expect(first.every((r) => r.verdict === 'FORWARDED')).toBe(true);
    const onB = first.find((r) => nodeOf(emu, backendAddr(r)) === other)!;
    expect(onB, 'some connection reaches the other node').toBeDefined();
    expect(onB.hops?.map((h) => h.node)).toEqual([home, other]);
    const before = emu.conntrack();
    expect(before.some((e) => e.node === other)).toBe(true);
    expect(new Set(chosenNodes(emu))).toEqual(new Set([home, other, third]));

    const report = emu.failNode(other);
    expect(report.node).toMatchObject({ name: other, event: 'fail' });
    expect(report.node!.conntrackEntriesLost).toBe(before.filter((e) => e.node === other).length);
    expect(emu.conntrack().some((e) => e.node === other)).toBe(false);
    // Its pods' endpoints are not ready any more: the Service chooses from the others.
    expect(new Set(chosenNodes(emu))).toEqual(new Set([home, third]));

    // The established connection still leaves the client's node towards its backend, and is lost on the way.
    const lost = emu.send({ src: 'pod/shop/client', dst: 'svc/shop/web:80', sport: onB.in.sport, flags: 'A', t: 2 })[0];
    expect(lost).toMatchObject({ verdict: 'DROPPED', drop_reason: 'NODE_DOWN' });
    expect(lost.hops).toEqual([
      { node: home, stage: 'ESTABLISHED', verdict: 'FORWARDED', nat: ['DNAT'] },
      { node: other, stage: 'NONE', verdict: 'DROPPED', nat: [] },
    ]);
    // New connections avoid the other node.
    const after = emu.send(Array.from({ length: 40 }, (_, i) => syn(30000 + i, 3)));
    expect(after.every((r) => r.verdict === 'FORWARDED' && nodeOf(emu, backendAddr(r)) !== other)).toBe(true);
    // Nothing enters a failed node.
    const pod = emu.endpoints().find((e) => e.node === other && e.kind === 'pod')!.address;
    const entering = emu.send({ src: '203.0.113.9', dst: pod, sport: 1234, dport: 8080, node: other, t: 3 })[0];
    expect(entering).toMatchObject({ verdict: 'DROPPED', drop_reason: 'NODE_DOWN' });

    expect(() => emu.failNode(other)).toThrow(/already failed/);
    expect(() => emu.failNode('node-9')).toThrow(InputError);
    expect(() => emu.failNode('node-9')).toThrow(/no node named "node-9" \(nodes: node-1, node-2, node-3\)/);

    // Back up: empty conntrack there, its pods ready and chosen again.
    const up = emu.restartNode(other);
    expect(up.node).toMatchObject({ name: other, event: 'restart', conntrackEntriesLost: 0 });
    expect(new Set(chosenNodes(emu))).toEqual(new Set([home, other, third]));
    const again = emu.send(Array.from({ length: 60 }, (_, i) => syn(40000 + i, 700)));
    expect(again.some((r) => nodeOf(emu, backendAddr(r)) === other)).toBe(true);
  });

  it('keeps every flow when only the agent restarts, and loses the node\'s when the node reboots', async () => {
    const { emu, home, other } = await app();
    emu.send(Array.from({ length: 30 }, (_, i) => syn(20000 + i)));
    const before = emu.conntrack();
    const agent = emu.restartNode(other, { agent: true });
    expect(agent.node).toEqual({ name: other, event: 'agent-restart', conntrackEntriesLost: 0 });
    expect(emu.conntrack()).toEqual(before);
    const reboot = emu.restartNode(home);
    expect(reboot.node!.conntrackEntriesLost).toBe(before.filter((e) => e.node === home).length);
    expect(emu.conntrack()).toEqual(before.filter((e) => e.node !== home));
    // The client's connections are new on the client's node now.
    expect(emu.send({ src: 'pod/shop/client', dst: 'svc/shop/web:80', sport: 20000, flags: 'A', t: 2 })[0].ct_state).toBe('NEW');
  });

  it('takes node events as trace control lines, and keeps them in snapshots', async () => {
    const { emu, other: third } = await app();
    const lines = [
      JSON.stringify(syn(20000)),
      `{"fail":"${third}","t":1.5}`,
      `{"fail":"${third}","t":1.5}`,
      `{"restart":"${third}","agent":"yes"}`,
      `{"restart":"${third}","when":1}`,
      JSON.stringify(syn(20001, 2)),
    ];
    const out = emu.trace(lines) as unknown as Record<string, unknown>[];
    expect(out[1]).toMatchObject({ line: 2, t: 1.5, applied: { node: { name: third, event: 'fail' } } });
    expect(out[2]).toMatchObject({ line: 3, error: expect.stringMatching(new RegExp(`${third} has already failed`)) });
    expect(out[3]).toMatchObject({ line: 4, error: expect.stringMatching(/"agent": "yes" is not true or false/) });
    expect(out[4]).toMatchObject({ line: 5, error: expect.stringMatching(/unknown field "when"/) });
    const copy = await restoreEmulator(emu.snapshot());
    const probe = Array.from({ length: 20 }, (_, i) => syn(50000 + i, 3));
    expect(JSON.stringify(copy.send(probe))).toBe(JSON.stringify(emu.send(probe)));
    expect(chosenNodes(emu)).not.toContain(third);
    expect(chosenNodes(copy)).toEqual(chosenNodes(emu));
  });
});

describe('node failure on both backends', () => {
  it('gives the same records from the wasm core and the reference', async () => {
    const run = async (backend: BackendKind) => {
      const emu = await createEmulator({ backend, seed: 9 });
      emu.apply(APP);
      const lines: string[] = [];
      for (let i = 0; i < 30; i++) lines.push(JSON.stringify(syn(20000 + i)));
      lines.push('{"fail":"node-2","t":2}');
      for (let i = 0; i < 30; i++) lines.push(JSON.stringify({ ...syn(20000 + i, 2), flags: 'A' }));
      for (let i = 0; i < 30; i++) lines.push(JSON.stringify(syn(21000 + i, 2)));
      lines.push('{"restart":"node-2","t":3}');
      for (let i = 0; i < 30; i++) lines.push(JSON.stringify({ ...syn(21000 + i, 3), flags: 'A' }));
      return emu.traceJson(lines);
    };
    const wasm = await run('wasm');
    expect(wasm.filter((l) => l.includes('NODE_DOWN')).length).toBeGreaterThan(0);
    expect(wasm).toEqual(await run('reference'));
  });
});
