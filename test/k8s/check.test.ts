import { describe, expect, it } from 'vitest';
import { checkCluster, hasErrors } from '../../src/k8s/check.js';
import { Diagnostic } from '../../src/k8s/model.js';
import { loadManifests } from '../../src/k8s/load.js';
import { fixtureFile, loadCluster } from './helpers.js';

describe('checkCluster on the good cluster', () => {
  it('finds nothing', () => {
    const diags = checkCluster(loadCluster().model);
    expect(diags).toEqual([]);
    expect(hasErrors(diags)).toBe(false);
  });
});

describe('checkCluster on the broken cluster', () => {
  const { model } = loadManifests([fixtureFile('broken/broken.yaml')], { nodePortRange: '30000-40000' });
  const diags = checkCluster(model, { nodePortRange: [30000, 32767] });
  const of = (code: string, object?: string) => diags.filter((d) => d.code === code && (object === undefined || d.object === object));
  const one = (code: string, object?: string): Diagnostic => {
    const found = of(code, object);
    expect(found, `${code} ${object ?? ''}: ${JSON.stringify(diags.map((d) => [d.code, d.object]))}`).toHaveLength(1);
    return found[0];
  };
  const webPods = model.pods.filter((p) => p.name.startsWith('web-')).map((p) => p.name);
  const at = (doc: number) => `(broken/broken.yaml: document ${doc})`;

  it('reports errors', () => {
    expect(hasErrors(diags)).toBe(true);
    expect(webPods).toHaveLength(2);
  });

  it('selector matching no pod: shows the nearest label sets (a typo first)', () => {
    const d = one('selector-matches-nothing', 'Service default/typo');
    expect(d.severity).toBe('error');
    expect(d.source).toEqual({ file: 'broken/broken.yaml', document: 4 });
    expect(d.message).toMatch(new RegExp(`^Service default/typo \\${at(4).slice(0, -1)}\\): selector app=wbe matches no pod in namespace default; closest label sets: \\{app=web,tier=frontend,pod-template-hash=\\w+\\} on ${webPods.join(', ')}: app=web \\(selector wants wbe\\);`));
  });

  it('selector matching no pod: one label right, one wrong', () => {
    const d = one('selector-matches-nothing', 'Service default/frontend');
    expect(d.message).toContain('selector app=web,tier=front matches no pod in namespace default; closest label sets: {app=web,tier=frontend,');
    expect(d.message).toContain(`on ${webPods.join(', ')}: tier=frontend (selector wants front)`);
  });

  it('selector matching pods in another namespace only', () => {
    const d = one('selector-matches-nothing', 'Service staging/web');
    expect(d.message).toBe(`Service staging/web ${at(6)}: selector app=web matches no pod in namespace staging; the namespace has no pods; matching pods exist in other namespaces (${webPods.map((p) => `default/${p}`).join(', ')}), but a Service only selects pods in its own namespace`);
  });

  it('targetPort name that no selected container exposes, naming the pods', () => {
    const d = one('target-port-unresolved', 'Service default/bad-port');
    expect(d.severity).toBe('error');
    expect(d.message).toBe(`Service default/bad-port ${at(7)}: port 80/TCP: targetPort "htp" (TCP) is not a named container port of any selected pod: ${webPods.join(', ')}; they expose http=8080/TCP; the port gets no endpoints`);
  });

  it('targetPort name exposed with another protocol', () => {
    const d = one('target-port-unresolved', 'Service default/udp-port');
    expect(d.message).toContain('a port named "http" exists but with another protocol (the name must match with the protocol UDP)');
  });

  it('targetPort name missing on some selected pods only: a warning', () => {
    const d = one('target-port-unresolved', 'Service default/mixed');
    expect(d.severity).toBe('warning');
    expect(d.message).toBe(`Service default/mixed ${at(9)}: port 80/TCP: targetPort "http" (TCP) is not a named container port of 1 of 2 selected pods: mixed-old; they expose web=8000/TCP; those pods are left out of this port's endpoints`);
  });

  it('all endpoints unready', () => {
    const d = one('all-endpoints-unready', 'Service default/batch');
    expect(d.severity).toBe('warning');
    expect(d.message).toBe(`Service default/batch ${at(12)}: none of its 2 endpoint(s) is ready (batch-1: not ready, batch-2: not ready); traffic to it is rejected`);
  });

  it('all endpoints unready, but serving while terminating: mentions the fallback', () => {
    const d = one('all-endpoints-unready', 'Service default/drain');
    expect(d.message).toBe(`Service default/drain ${at(15)}: none of its 1 endpoint(s) is ready (drain-1: terminating (still serving)); kube-proxy falls back to the 1 serving terminating endpoint(s)`);
  });

  it('nodePort outside the range', () => {
    const d = one('node-port-out-of-range', 'Service default/np-high');
    expect(d.severity).toBe('error');
    expect(d.message).toBe(`Service default/np-high ${at(19)}: port 80/TCP: nodePort 35000 is outside the node port range 30000-32767 (kube-apiserver --service-node-port-range)`);
    // Checked against the model's own range, it is fine.
    expect(checkCluster(model).filter((x) => x.code === 'node-port-out-of-range')).toEqual([]);
  });

  it('nodePort used twice, naming both services', () => {
    const d = one('node-port-conflict');
    expect(d.severity).toBe('error');
    expect(d.message).toBe(`nodePort 30100 is used by Service default/np-one (port 80/TCP) ${at(17)} and Service staging/np-two (port http/TCP) ${at(18)}: a nodePort can belong to one Service only (kube-apiserver: "provided port is already allocated")`);
  });

  it('cluster IP used twice', () => {
    const d = one('cluster-ip-conflict');
    expect(d.message).toBe(`cluster IP 10.96.1.1 is used by Service default/ip-one ${at(23)} and Service default/ip-two ${at(24)}: kube-apiserver allocates each cluster IP once ("provided IP is already allocated")`);
  });

  it('service with ports but no endpoints at all: selectorless without slices', () => {
    const d = one('no-endpoints', 'Service default/orphan');
    expect(d.message).toBe(`Service default/orphan ${at(20)}: has ports but no selector and no EndpointSlice (label kubernetes.io/service-name=orphan): it has no endpoints, traffic to it is rejected`);
  });

  it('service with ports but no endpoints at all: its pods never got an address', () => {
    const d = one('no-endpoints', 'Service default/gpu');
    expect(d.message).toMatch(/^Service default\/gpu \(broken\/broken\.yaml: document 21\): has no endpoints although its selector matches 1 pod\(s\): gpu-\w+-\w{5}: no IPv4 address \(Pending, not scheduled\); traffic to it is rejected$/);
  });

  it('does not repeat "no endpoints" where a more precise error explains it', () => {
    for (const s of ['Service default/typo', 'Service default/bad-port', 'Service staging/web']) expect(of('no-endpoints', s)).toEqual([]);
  });

  it('pods on unknown nodes and slices of unknown services', () => {
    expect(one('pod-on-unknown-node').message).toBe('node "ghost" is not in the manifests, but pods run on it: default/ghost-pod; the EndpointSlice controller leaves such pods out of every Service (unless publishNotReadyAddresses)');
    expect(one('slice-without-service').message).toBe(`EndpointSlice default/gone-abcde ${at(26)}: its Service default/gone (label kubernetes.io/service-name) does not exist; kube-proxy ignores it`);
  });

  it('raises nothing else', () => {
    expect(diags.map((d) => `${d.code} ${d.object}`).sort()).toEqual([
      'all-endpoints-unready Service default/batch',
      'all-endpoints-unready Service default/drain',
      'cluster-ip-conflict Service default/ip-one',
      'no-endpoints Service default/gpu',
      'no-endpoints Service default/orphan',
      'node-port-conflict Service default/np-one',
      'node-port-out-of-range Service default/np-high',
      'pod-on-unknown-node Node ghost',
      'selector-matches-nothing Service default/frontend',
      'selector-matches-nothing Service default/typo',
      'selector-matches-nothing Service staging/np-two',
      'selector-matches-nothing Service staging/web',
      'slice-without-service EndpointSlice default/gone-abcde',
      'target-port-unresolved Service default/bad-port',
      'target-port-unresolved Service default/mixed',
      'target-port-unresolved Service default/udp-port',
    ]);
  });
});
