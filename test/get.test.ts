// dpemu get: the allocated addresses in kubectl's shape, so users need not guess them.
import { describe, it, expect } from 'vitest';
import { loadFiles } from '../src/k8s/files.js';
import { getListing, getKind } from '../src/get.js';
import { UsageError } from '../src/errors.js';

const model = loadFiles(['examples/shop']).model;

describe('dpemu get', () => {
  it('services: type, cluster IP (allocated or None), external addresses, port:nodePort/protocol', () => {
    const out = getListing(model, 'services', { namespace: 'shop' }).split('\n');
    expect(out[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)$/);
    expect(out).toContainEqual(expect.stringMatching(/^web-public\s+LoadBalancer\s+10\.96\.0\.15\s+198\.51\.100\.7,198\.51\.100\.20\s+80:30001\/TCP,443:30002\/TCP$/));
    expect(out).toContainEqual(expect.stringMatching(/^db\s+ClusterIP\s+None\s+/));
    expect(out).toContainEqual(expect.stringMatching(/^api\s+NodePort\s+10\.96\.0\.12\s+<none>\s+8000:30080\/TCP,9000:30000\/TCP$/));
  });

  it('pods -o wide: the pod IP and node of every pod, all namespaces', () => {
    const out = getListing(model, 'pods', { output: 'wide' }).split('\n');
    expect(out[0]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+IP\s+NODE$/);
    expect(out.length - 1).toBe(model.pods.length);
    expect(out).toContainEqual(expect.stringMatching(/^kube-system\s+coredns-\S+\s+1\/1\s+Running\s+10\.244\.0\.2\s+node-a$/));
  });

  it('nodes and -o json agree with the model; unknown kinds are a usage error', () => {
    const json = JSON.parse(getListing(model, 'nodes', { output: 'json' }));
    expect(json.items.map((n: { name: string; internalIP: string }) => [n.name, n.internalIP])).toEqual(model.nodes.map((n) => [n.name, n.internalIP]));
    expect(getKind('svc')).toBe('services');
    expect(getKind('po')).toBe('pods');
    expect(() => getKind('deployments')).toThrow(UsageError);
    expect(getListing(model, 'pods', { namespace: 'nowhere' })).toBe('No resources found in nowhere namespace.');
  });
});
