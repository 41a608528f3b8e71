// spec.trafficDistribution: the hints the EndpointSlice controller derives, and what kube-proxy does with them.
import { describe, expect, it } from 'vitest';
import { createEmulator } from '../../src/index.node.js';
import { internalsOf } from '../../src/api/emulator.js';
import { loadText } from './helpers.js';

const app = (distribution: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: client}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template: {metadata: {labels: {app: client}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, trafficDistribution: ${distribution}, ports: [{port: 80, targetPort: 8080}]}
`;

describe('trafficDistribution', () => {
  it('PreferClose and PreferSameZone give zone hints; PreferSameNode node and zone hints; other values none', () => {
    const eps = (d: string) => loadText(app(d)).model.endpointSlices.flatMap((s) => s.endpoints);
    for (const d of ['PreferClose', 'PreferSameZone']) for (const e of eps(d)) expect([e.hintsForZones, e.hintsForNodes]).toEqual([[e.zone], undefined]);
    for (const e of eps('PreferSameNode')) expect([e.hintsForZones, e.hintsForNodes]).toEqual([[e.zone], [e.nodeName]]);
    for (const e of eps('Anywhere')) expect([e.hintsForZones, e.hintsForNodes]).toEqual([undefined, undefined]);
  });

  it("keeps a client's connections on its own node with PreferSameNode, in its zone with PreferClose, anywhere without", async () => {
    for (const [d, same] of [['PreferSameNode', true], ['PreferClose', true], ['Anywhere', false]] as const) {
      const emu = await createEmulator({ cluster: app(d) });
      const model = internalsOf(emu).runtime.model;
      const client = model.pods.find((p) => p.labels.app === 'client')!;
      const nodeOf = new Map(model.pods.map((p) => [p.podIP, p.nodeName]));
      const recs = emu.send(Array.from({ length: 60 }, (_, i) => ({ src: client.podIP!, dst: 'svc/default/web:80', sport: 20000 + i })));
      const nodes = new Set(recs.map((r) => nodeOf.get(r.dst)));
      if (same) expect([...nodes]).toEqual([client.nodeName]); // three default nodes in three zones: zone = node here
      else expect(nodes.size).toBe(3);
    }
  });
});
