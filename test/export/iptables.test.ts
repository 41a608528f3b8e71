// dpemu export --format iptables-save against kube-proxy's own expected ruleset
// (pkg/proxy/iptables/proxier_test.go TestOverallIPTablesRules), recreated as manifests.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles } from '../../src/k8s/files.js';
import { exportIptables } from '../../src/export/iptables.js';
import { hash16, svcChain, sepChain, probability } from '../../src/export/chains.js';

const dir = join(import.meta.dirname, 'overall');
// The fake proxier's settings: pod CIDR 10.0.0.0/8, NodePorts 3001-3003 (below the default range).
const load = () => loadFiles([join(dir, 'cluster.yaml')], { clusterCIDR: '10.0.0.0/8', nodePortRange: '1-32767', serviceCIDR: '172.30.0.0/16' }).model;

describe('export iptables-save', () => {
  it("equals kube-proxy's TestOverallIPTablesRules expected output line for line", () => {
    const expected = readFileSync(join(dir, 'expected.iptables-save'), 'utf8').split('\n');
    const got = exportIptables(load(), { node: 'test-node' }).split('\n');
    expect(got).toEqual(expected);
  });

  it('hashes chain names as kube-proxy does', () => {
    expect(svcChain('ns1/svc1:p80', 'tcp')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(sepChain('ns4/svc4:p80', 'tcp', '10.180.0.5:80')).toBe('KUBE-SEP-C6EBXVWJJZMIWKLZ');
    expect(hash16('x')).toMatch(/^[A-Z2-7]{16}$/);
    expect([2, 3, 7].map(probability)).toEqual(['0.5000000000', '0.3333333333', '0.1428571429']);
  });

  it('a node with the local endpoint gets a KUBE-SVL chain and no DROP for the Local service', () => {
    const m = load();
    const slice = m.endpointSlices.find((s) => s.namespace === 'ns2')!;
    slice.endpoints[0].nodeName = 'test-node';
    const out = exportIptables(m, { node: 'test-node' });
    expect(out).toContain('-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVL-GNZBNJ2PO5MGZ6GT');
    expect(out).not.toContain('ns2/svc2:p80 has no local endpoints');
    expect(exportIptables(m, { node: 'other-node' })).toContain('ns2/svc2:p80 has no local endpoints');
  });

  it('--masquerade-all masquerades every cluster IP packet; localhostNodePorts off drops the 127.0.0.0/8 rules', () => {
    const out = exportIptables(load(), { node: 'test-node', masqueradeAll: true, localhostNodePorts: false });
    expect(out).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ');
    expect(out).not.toContain('127.0.0.0/8 --dport');
  });
  it('--nodeport-addresses: KUBE-NODEPORTS is reached for the selected node addresses only, and not on 127.0.0.1', () => {
    const out = exportIptables(load(), { node: 'test-node', nodePortAddresses: ['192.168.0.0/24'] });
    expect(out).toContain('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS');
    expect(out).not.toContain('--dst-type LOCAL -j KUBE-NODEPORTS');
    expect(out).not.toContain('127.0.0.0/8 --dport');
  });
});
