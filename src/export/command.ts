// The `dpemu export` command: the ruleset kube-proxy would program on one node for a cluster.
import { UsageError } from '../errors.js';
import { Command, Option } from 'commander';
import { loadFiles } from '../k8s/files.js';
import { exportIptables } from './iptables.js';
import { exportIpvsadm } from './ipvsadm.js';

interface ExportOpts { cluster: string[]; format: 'iptables-save' | 'ipvsadm'; node?: string; masqueradeAll?: boolean; localhostNodePorts: boolean; nfacct: boolean; clusterCidr?: string }

export function registerExport(cli: Command, collect: (v: string, prev: string[] | undefined) => string[]): void {
  cli.command('export')
    .description('print the rules kube-proxy would program on one node for a cluster loaded from Kubernetes manifests, as iptables-save or ipvsadm -Sn print them')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeat for more)', collect)
    .addOption(new Option('--format <format>', 'output form').choices(['iptables-save', 'ipvsadm']).default('iptables-save'))
    .option('--node <name>', "the node whose rules are printed (default: the first node)")
    .option('--masquerade-all', 'kube-proxy --masquerade-all: SNAT all traffic to cluster IPs')
    .option('--no-localhost-node-ports', 'kube-proxy --iptables-localhost-nodeports=false: no NodePorts on 127.0.0.1')
    .option('--no-nfacct', 'leave out the nfacct counters (kube-proxy does when the kernel lacks the nfacct match)')
    .option('--cluster-cidr <cidr>', 'the pod network (kube-proxy --cluster-cidr)')
    .action((opts: ExportOpts) => { process.stdout.write(runExport(opts)); });
}

export function runExport(opts: ExportOpts): string {
  // An unreadable path or a bad manifest is a ManifestError (one line, no stack, from the CLI).
  const model = loadFiles(opts.cluster, opts.clusterCidr ? { clusterCIDR: opts.clusterCidr } : {}).model;
  const node = opts.node ?? model.nodes[0]?.name;
  if (node === undefined) throw new UsageError('--node: the cluster has no Node objects; name the node whose rules to print');
  if (opts.node !== undefined && !model.nodes.some((n) => n.name === node)) {
    throw new UsageError(`--node: no node named ${JSON.stringify(node)} (nodes: ${model.nodes.map((n) => n.name).join(', ')})`);
  }
  const o = { node, masqueradeAll: opts.masqueradeAll, localhostNodePorts: opts.localhostNodePorts, nfacct: opts.nfacct };
  if (opts.format === 'ipvsadm') return exportIpvsadm(model, o);
  return exportIptables(model, o);
}
