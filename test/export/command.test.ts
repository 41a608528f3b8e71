// dpemu export: node choice, errors, and the ipvsadm form.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { runExport } from '../../src/export/command.js';

const shop = join(import.meta.dirname, '../../examples/shop');
const base = { cluster: [shop], localhostNodePorts: true, nfacct: true };

describe('dpemu export', () => {
  it('prints the first node by default and the named node with --node', () => {
    const first = runExport({ ...base, format: 'iptables-save' as const });
    expect(first.startsWith('*filter\n')).toBe(true);
    expect(first.trimEnd().endsWith('COMMIT')).toBe(true);
    expect(runExport({ ...base, format: 'iptables-save' as const, node: 'node-a' })).toBe(first);
  });
  it('refuses an unknown node, naming the nodes there are', () => {
    expect(() => runExport({ ...base, format: 'iptables-save' as const, node: 'nope' })).toThrow(/--node: no node named "nope" \(nodes: node-a, node-b, node-c\)/);
  });
  it('an unreadable path is a one-line error', () => {
    expect(() => runExport({ ...base, cluster: ['/nonexistent'], format: 'iptables-save' as const })).toThrow(/\/nonexistent: no such file or directory/);
  });
  it('ipvsadm -Sn form: a virtual service per frontend, its real servers masqueraded with weight 1', () => {
    const out = runExport({ ...base, format: 'ipvsadm' as const }).split('\n');
    expect(out).toContain('-A -u 10.96.0.10:53 -s rr');
    expect(out).toContain('-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1');
    expect(out.filter((l) => l.startsWith('-A ')).every((l) => /^-A (-t|-u|--sctp-service) [\d.]+:\d+ -s rr( -p \d+)?$/.test(l))).toBe(true);
  });
  it('nft form: the kube-proxy table as an nft -f transaction, NodePorts on the primary address by default', () => {
    const out = runExport({ ...base, format: 'nft' as const, node: 'node-b' });
    expect(out.startsWith('add table ip kube-proxy { comment "rules for kube-proxy" ; }\n')).toBe(true);
    expect(out).toMatch(/^add element ip kube-proxy nodeport-ips \{ [\d.]+ \}$/m);
    expect(out).toMatch(/numgen random mod \d+ vmap/);
  });
  it('a bad --nodeport-addresses is a usage error naming the option', () => {
    expect(() => runExport({ ...base, format: 'nft' as const, nodePortAddresses: ['10.0.0.0/33'] })).toThrow(/--nodeport-addresses: "10.0.0.0\/33" is not an IPv4 CIDR/);
  });
});
