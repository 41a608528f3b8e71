// The options every command that reads a cluster takes: where the manifests are, whether folders are read
// with their sub-folders (kubectl's -R), and the defaults that stand in for what an application's manifests
// leave out (nodes, load-balancer addresses). One definition, so that trace, run, check, dns and get agree.

import { Command, InvalidArgumentError } from 'commander';
import type { LoadOptions } from './k8s/load.js';

export interface ClusterCliOptions { cluster: string[]; recursive?: boolean; nodes?: number; lbPool?: string }

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function count(v: string): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0 || x > 5000) throw new InvalidArgumentError('--nodes must be an integer in 0..5000');
  return x;
}

/** Add --cluster (required unless `optional`), -R/--recursive, --nodes and --lb-pool to a command. */
export function clusterOptions(cmd: Command, optional = false): Command {
  const help = 'manifest file or directory (repeat for more)';
  (optional ? cmd.option('--cluster <path>', help, collect) : cmd.requiredOption('--cluster <path>', help, collect));
  return cmd
    .option('-R, --recursive', 'read the sub-folders of --cluster directories too (as kubectl apply -R)')
    .option('--nodes <n>', 'nodes of the default cluster used when the manifests have no Node objects (default 3; 0: none)', count)
    .option('--lb-pool <cidr>', 'addresses for LoadBalancer Services without one, as MetalLB would give them (default 172.18.255.0/24; "none")');
}

/** The loader options the cluster options stand for. */
export function loadOptionsOf(o: ClusterCliOptions): LoadOptions {
  return { ...(o.nodes !== undefined ? { defaultNodes: o.nodes } : {}), ...(o.lbPool !== undefined ? { lbPool: o.lbPool } : {}) };
}
