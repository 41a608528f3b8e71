// `dpemu export`'s options, apart from the command (loaded only when it runs).

import { Command, Option } from 'commander';
import type { ExportOpts } from './command.js';

export function registerExport(cli: Command, collect: (v: string, prev: string[] | undefined) => string[]): void {
  cli.command('export')
    .description('print the rules kube-proxy would program on one node for a cluster loaded from Kubernetes manifests, as iptables-save, nft -f or ipvsadm -Sn read them')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
    .addOption(new Option('--format <format>', 'output form').choices(['iptables-save', 'nft', 'ipvsadm']).default('iptables-save'))
    .option('--node <name>', "the node whose rules are printed (default: the first node)")
    .option('--masquerade-all', 'kube-proxy --masquerade-all: SNAT all traffic to cluster IPs')
    .option('--no-localhost-node-ports', 'kube-proxy --iptables-localhost-nodeports=false: no NodePorts on 127.0.0.1')
    .option('--no-nfacct', 'leave out the nfacct counters (kube-proxy does when the kernel lacks the nfacct match)')
    .option('--cluster-cidr <cidr>', 'the pod network (kube-proxy --cluster-cidr)')
    .option('--nodeport-addresses <cidr>', 'kube-proxy --nodeport-addresses (repeat for more; default: every local address, the primary one for nft)', collect)
    .action(async (opts: ExportOpts) => { process.stdout.write((await import('./command.js')).runExport(opts)); });
}
