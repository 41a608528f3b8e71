// dpemu export --format nft against kube-proxy's own expected ruleset
// (pkg/proxy/nftables/proxier_test.go TestOverallNFTablesRules), recreated as manifests.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles } from '../../src/k8s/files.js';
import { exportNft, hashAndTruncate } from '../../src/export/nft.js';

const dir = join(import.meta.dirname, 'overall');
const load = () => loadFiles([join(dir, 'cluster.yaml')], { clusterCIDR: '10.0.0.0/8', nodePortRange: '1-32767', serviceCIDR: '172.30.0.0/16' }).model;
// The fake proxier serves NodePorts on 192.168.0.2/32 only.
const opts = { node: 'test-node', nodePortAddresses: ['192.168.0.2/32'] };

// kube-proxy's sortNFTablesTransaction (pkg/proxy/nftables/helpers_test.go): blank lines and
// comments dropped, lines ordered by object type (table, chain, rule, set, map, element), then by
// object name, rules keeping the order they were added in within a chain.
const ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };
function sortTransaction(text: string): string[] {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return lines.map((l, i) => ({ l, w: l.split(' '), i })).sort((a, b) => {
    if (a.w[1] !== b.w[1]) return (ORDER[b.w[1]] ?? 0) - (ORDER[a.w[1]] ?? 0);
    if (a.w[4] !== b.w[4]) return a.w[4] < b.w[4] ? -1 : 1;
    if (a.w[1] === 'rule') return a.i - b.i;
    return a.l < b.l ? -1 : a.l > b.l ? 1 : 0;
  }).map((x) => x.l);
}

describe('export nft', () => {
  it("equals kube-proxy's TestOverallNFTablesRules expected transaction line for line (sorted as its test sorts)", () => {
    const expected = sortTransaction(readFileSync(join(dir, 'expected.nft'), 'utf8'));
    const got = sortTransaction(exportNft(load(), opts));
    expect(got).toEqual(expected);
  });

  it('hashes chain names as kube-proxy does', () => {
    expect(hashAndTruncate('ns1/svc1/tcp/p80')).toBe('ULMVA6XW-ns1/svc1/tcp/p80');
    expect(hashAndTruncate('ns4/svc4/tcp/p80__10.180.0.5/80')).toBe('5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80');
  });

  it('unset nodePortAddresses means the primary IP in nftables mode; 0.0.0.0/0 means every local address via fib', () => {
    const primary = exportNft(load(), { node: 'test-node' });
    expect(primary).toContain('add element ip kube-proxy nodeport-ips { 192.168.0.2 }');
    const all = exportNft(load(), { node: 'test-node', nodePortAddresses: ['0.0.0.0/0'] });
    expect(all).not.toContain('nodeport-ips');
    expect(all).toContain('add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports');
  });

  it('objects come in the order nft -f needs: sets and maps, chains, rules, elements', () => {
    const kinds = exportNft(load(), opts).split('\n').filter(Boolean).map((l) => l.split(' ')[1]);
    const firstRule = kinds.indexOf('rule'), lastChain = kinds.lastIndexOf('chain');
    expect(lastChain).toBeLessThan(firstRule);
    expect(kinds.lastIndexOf('set')).toBeLessThan(kinds.indexOf('chain'));
    expect(kinds.lastIndexOf('rule')).toBeLessThan(kinds.indexOf('element'));
  });

  it('--masquerade-all masquerades every cluster IP packet', () => {
    expect(exportNft(load(), { ...opts, masqueradeAll: true })).toContain('add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 jump mark-for-masquerade');
  });
});
