// An application's manifests as published (no Nodes, no addresses, a ReplicationController, files in
// sub-folders, the same object twice): what the loader assumes, and that it says so.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadText } from './helpers.js';
import { loadFiles } from '../../src/k8s/files.js';

const APP = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend}
spec:
  replicas: 2
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec: {containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: frontend-external}
spec:
  type: LoadBalancer
  selector: {app: frontend}
  ports: [{port: 80, targetPort: 8080}]
`;

describe('a cluster without Node objects', () => {
  it('gets three default nodes over three zones, with addresses and pod CIDRs, and says so in a note', () => {
    const { model, warnings, notes } = loadText(APP);
    expect(model.nodes.map((n) => [n.name, n.internalIP, n.zone, n.podCIDRs[0]])).toEqual([
      ['node-1', '172.18.0.2', 'zone-a', '10.244.0.0/24'],
      ['node-2', '172.18.0.3', 'zone-b', '10.244.1.0/24'],
      ['node-3', '172.18.0.4', 'zone-c', '10.244.2.0/24'],
    ]);
    expect(model.pods.map((p) => p.phase)).toEqual(['Running', 'Running']);
    expect(model.pods.map((p) => p.nodeName).sort()).toEqual(['node-1', 'node-2']);
    expect(warnings).toEqual([]);
    expect(notes.map((n) => n.code)).toEqual(['default-nodes', 'lb-addresses']);
    expect(notes[0].message).toMatch(/no Node objects: a default cluster of 3 nodes/);
  });

  it('takes another count, and none at all with 0', () => {
    expect(loadText(APP, 'a.yaml', { defaultNodes: 5 }).model.nodes).toHaveLength(5);
    const none = loadText(APP, 'a.yaml', { defaultNodes: 0 });
    expect(none.model.nodes).toEqual([]);
    expect(none.model.pods.every((p) => p.phase === 'Pending')).toBe(true);
  });

  it('takes the nodes a dump of pods names, with the hostIP they report', () => {
    const dump = JSON.stringify({
      apiVersion: 'v1', kind: 'PodList', items: [
        { metadata: { name: 'a', namespace: 'x', labels: { app: 'a' } }, spec: { nodeName: 'worker-7', containers: [{ name: 'c', image: 'i' }] },
          status: { phase: 'Running', podIP: '10.1.7.5', podIPs: [{ ip: '10.1.7.5' }], hostIP: '192.168.1.7', conditions: [{ type: 'Ready', status: 'True' }] } },
      ],
    });
    const { model, notes } = loadText(dump, 'pods.json');
    expect(model.nodes.map((n) => [n.name, n.internalIP])).toEqual([['worker-7', '192.168.1.7']]);
    expect(notes[0].message).toMatch(/worker-7/);
  });
});

describe('load-balancer addresses', () => {
  it('come from the pool in name order, honour spec.loadBalancerIP, and can be turned off', () => {
    const two = `${APP}---
apiVersion: v1
kind: Service
metadata: {name: admin}
spec: {type: LoadBalancer, loadBalancerIP: 172.18.255.77, selector: {app: frontend}, ports: [{port: 81, targetPort: 8080}]}
`;
    const m = loadText(two).model;
    expect(m.services.map((s) => [s.name, s.loadBalancerIngress])).toEqual([['admin', ['172.18.255.77']], ['frontend-external', ['172.18.255.1']]]);
    expect(loadText(APP, 'a.yaml', { lbPool: '192.0.2.0/30' }).model.services[0].loadBalancerIngress).toEqual(['192.0.2.1']);
    expect(loadText(APP, 'a.yaml', { lbPool: 'none' }).model.services[0].loadBalancerIngress).toEqual([]);
    expect(() => loadText(APP, 'a.yaml', { lbPool: 'nonsense' })).toThrow(/lbPool/);
  });
});

describe('a ReplicationController (kubernetes/examples guestbook-go)', () => {
  it('creates its pods, selected by its plain label selector', () => {
    const rc = `
apiVersion: v1
kind: ReplicationController
metadata: {name: guestbook}
spec:
  replicas: 3
  selector: {app: guestbook}
  template:
    metadata: {labels: {app: guestbook}}
    spec: {containers: [{name: guestbook, image: x, ports: [{name: http-server, containerPort: 3000}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: guestbook}
spec: {selector: {app: guestbook}, ports: [{port: 3000, targetPort: http-server}]}
`;
    const m = loadText(rc).model;
    expect(m.pods.map((p) => [p.name.startsWith('guestbook-'), p.owner, p.phase])).toEqual(Array(3).fill([true, { kind: 'ReplicationController', name: 'guestbook' }, 'Running']));
    expect(m.endpointSlices.flatMap((s) => s.endpoints)).toHaveLength(3);
  });
});

describe('folders', () => {
  it('are read without their sub-folders unless asked (kubectl apply -f DIR, -R)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpemu-dirs-'));
    writeFileSync(join(dir, 'app.yaml'), APP);
    mkdirSync(join(dir, 'kustomize'));
    writeFileSync(join(dir, 'kustomize', 'extra.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: extra}\nspec: {ports: [{port: 1}]}\n');
    expect(loadFiles([dir]).model.services.map((s) => s.name)).toEqual(['frontend-external']);
    expect(loadFiles([dir], {}, true).model.services.map((s) => s.name)).toEqual(['extra', 'frontend-external']);
  });
});

describe('a dump of Services and EndpointSlices (what kube-proxy watches)', () => {
  it('is checked without errors: the slices are authoritative, the empty selector only a note', async () => {
    const { checkCluster } = await import('../../src/k8s/check.js');
    const dump = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [10.244.1.5], conditions: {ready: true}, nodeName: worker-1}]
`;
    const { model } = loadText(dump);
    const diags = checkCluster(model);
    expect(diags.filter((d) => d.severity === 'error')).toEqual([]);
    expect(diags.find((d) => d.code === 'selector-matches-nothing')).toMatchObject({ severity: 'info' });
    expect(model.nodes.map((n) => n.name)).toEqual(['worker-1']);
  });
});
