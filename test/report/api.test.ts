// The library API's additions the report and the Hubble output read: a service entry's index and a
// backend's id (the numbers processed descriptors carry), the policy rule table, the cluster's addresses,
// and the dataplane's capacities.

import { describe, it, expect } from 'vitest';
import { createEmulator } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { PKT } from '../../src/packet.js';

describe('Emulator additions', () => {
  it('name the numbers a processed descriptor carries: service index, backend id, policy rule', async () => {
    const emu = await createEmulator({ cluster: { files: readManifestFiles('test/report/fixtures/cluster.yaml') }, flows: 1000, natPorts: { min: 40000, max: 40099 } });
    const batch = emu.createBatch(2);
    batch.set(0, { src: '10.244.1.100', dst: '10.96.0.20', sport: 1000, dport: 80 });
    batch.set(1, { src: '10.244.1.100', dst: '10.244.2.200', sport: 1001, dport: 5432 });
    emu.process(batch, 2);
    const d = batch.raw.view();
    const service = emu.services().find((s) => s.index === d.getUint32(PKT.SERVICE, true))!;
    expect(service.service).toBe('shop/web:http');
    const backend = emu.backends().find((b) => b.id === d.getUint32(PKT.BACKEND, true))!;
    expect(backend.backend).toBe(batch.get(0).backend);
    expect(service.backends).toContain(backend.backend);
    const rule = emu.policyRules().find((r) => r.id === d.getUint32(PKT.STRIDE + PKT.POLICY_RULE, true))!;
    expect(rule).toEqual({
      id: rule.id, text: 'dropped: ingress isolated by NetworkPolicy shop/db-ingress; no rule matched', direction: 'ingress', action: 'Isolated',
      policies: [{ kind: 'NetworkPolicy', namespace: 'shop', name: 'db-ingress' }],
    });
    expect(emu.policyRules().find((r) => r.action === 'Allow')).toMatchObject({ text: 'allowed by NetworkPolicy shop/db-ingress ingress[0]', direction: 'ingress' });
    // 1,000 flows with room (x1.25), two entries each: a flow to another node's pod is tracked on both nodes
    expect(emu.capacity()).toEqual({ flows: 2500, natPorts: { min: 40000, max: 40099 } });
    expect(emu.conntrackCount()).toBe(1); // the Service connection; the dropped one made no entry
    expect(emu.conntrack()).toHaveLength(1);
  });

  it('lists every pod and node address with its identity, endpoint and owner', async () => {
    const emu = await createEmulator({ cluster: { files: readManifestFiles('test/report/fixtures/cluster.yaml') } });
    const eps = emu.endpoints();
    expect(eps.filter((e) => e.kind === 'node').map((e) => [e.address, e.name, e.identity])).toEqual([['192.168.1.1', 'node-a', 1], ['192.168.1.2', 'node-b', 1]]);
    const pods = eps.filter((e) => e.kind === 'pod');
    expect(pods).toHaveLength(5);
    expect(new Set(pods.map((p) => p.endpointId)).size).toBe(5); // one endpoint per pod
    const web = pods.filter((p) => p.labels.app === 'web');
    expect(new Set(web.map((p) => p.identity)).size).toBe(1); // one identity per label set
    expect(web[0].identity).toBeGreaterThanOrEqual(256);
    expect(web[0].owner).toEqual({ kind: 'ReplicaSet', name: `web-${web[0].labels['pod-template-hash']}` });
    expect(pods.find((p) => p.name === 'client')).toMatchObject({ address: '10.244.1.100', namespace: 'shop', node: 'node-a', owner: null });
    expect(pods.find((p) => p.name === 'db')!.identity).not.toBe(web[0].identity);
  });
});
