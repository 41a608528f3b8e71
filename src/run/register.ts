// `dpemu run`'s options, apart from the command: the command line defines every command at start, and
// loads a command's modules (traffic, report, pcap) only when that command runs.

import { Command, InvalidArgumentError, Option } from 'commander';
import { DESIGN_NAMES, ALGO_NAMES } from '../dataplane.js';
import { clusterOptions } from '../cluster-options.js';
import type { RunCliOptions } from './command.js';

const number = (name: string, min: number) => (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
  return x;
};

export function registerRun(cli: Command): void {
  clusterOptions(cli.command('run'), true)
    .description('generate traffic over a cluster (or replay a capture) through the dataplane and report what happened: ' +
      'connections with full TCP lifecycles and UDP exchanges, DNS lookups as UDP packets to kube-dns, churn; with no options, the built-in payments example')
    .option('--traffic <file>', 'traffic spec (YAML or JSON: clients, traffic, churn, duration, seed); without it (and without --pcap-in), every workload calls the Services of its namespace and outside clients the LoadBalancer and NodePort Services')
    .option('--pcap-in <file>', 'a capture (pcap or pcapng) to run through the dataplane; without --traffic it is the traffic')
    .option('--pcap-out <file>', 'write the packets as they leave the dataplane (after NAT) as pcap')
    .option('--sidecar <file>', 'with --pcap-out: one JSON line per packet (verdict, drop reason, service, backend)')
    .option('--json', 'the report as one JSON object')
    .option('--flows <file>', 'also write one record per packet (JSON lines, as dpemu trace prints them)')
    .addOption(new Option('--output <format>', 'with --flows: dpemu records, or flows in the shape of hubble observe -o json').choices(['json', 'hubble']).default('json'))
    .option('--html <file>', 'also write the summary as a self-contained HTML page')
    .addOption(new Option('--design <name>', 'dataplane design').choices(DESIGN_NAMES).default('ebpf'))
    .addOption(new Option('--backend <kind>', 'dataplane implementation').choices(['wasm', 'reference']).default('wasm'))
    .addOption(new Option('--algo <name>', "endpoint selection (default: the design's)").choices(ALGO_NAMES))
    .option('--seed <n>', 'seed of the run (default: the spec\'s, else 1)', number('--seed', 0))
    .option('--duration <seconds>', 'virtual seconds of traffic (default: the spec\'s, else 5)', number('--duration', 0.001))
    .option('--workers <n>', 'worker threads sharing the packets, nodes spread over them (the same report as one; a cluster of several nodes shares out over 2)', number('--workers', 1), 1)
    .option('--no-progress', 'no progress bar')
    .action(async (opts: RunCliOptions) => { await (await import('./command.js')).runCommand(opts); });
}
