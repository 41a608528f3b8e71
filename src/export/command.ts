// The `dpemu export` command: the ruleset kube-proxy would program on one node for a cluster, built
// from the plan the matching design runs (iptables-save: iptables, nft: nftables, ipvsadm: ipvs).
import { UsageError } from '../errors.js';
import { loadFiles } from '../k8s/files.js';
import { iptablesSave } from './iptables.js';
import { ipvsadmSave } from './ipvsadm.js';
import { nftRuleset } from './nft.js';
import { nodeRules, planFor } from './node-rules.js';

export type ExportFormat = 'iptables-save' | 'nft' | 'ipvsadm';
export interface ExportOpts {
  cluster: string[]; format: ExportFormat; node?: string; masqueradeAll?: boolean; localhostNodePorts: boolean; nfacct: boolean;
  clusterCidr?: string; nodePortAddresses?: string[];
}
const DESIGN = { 'iptables-save': 'iptables', nft: 'nftables', ipvsadm: 'ipvs' } as const;


export function runExport(opts: ExportOpts): string {
  // An unreadable path or a bad manifest is a ManifestError (one line, no stack, from the CLI).
  const model = loadFiles(opts.cluster, opts.clusterCidr ? { clusterCIDR: opts.clusterCidr } : {}).model;
  const node = opts.node ?? model.nodes[0]?.name;
  if (node === undefined) throw new UsageError('--node: the cluster has no Node objects; name the node whose rules to print');
  if (opts.node !== undefined && !model.nodes.some((n) => n.name === node)) {
    throw new UsageError(`--node: no node named ${JSON.stringify(node)} (nodes: ${model.nodes.map((n) => n.name).join(', ')})`);
  }
  let plan;
  try {
    plan = planFor(model, DESIGN[opts.format], { masqueradeAll: opts.masqueradeAll, localhostNodePorts: opts.localhostNodePorts, nodePortAddresses: opts.nodePortAddresses });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--${e.message.replace(/^nodePortAddresses/, 'nodeport-addresses')}`);
    throw e;
  }
  const rules = nodeRules(plan, model, node);
  if (opts.format === 'ipvsadm') return ipvsadmSave(rules);
  if (opts.format === 'nft') return nftRuleset(rules, model.config.serviceCIDR);
  return iptablesSave(rules, { nfacct: opts.nfacct });
}
