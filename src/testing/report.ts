// How a failed property reports its case: the cluster as YAML and the packets as JSON lines, the two files
// `dpemu trace --cluster cluster.yaml --packets packets.jsonl` takes, so a user can run the counterexample.

import { stringify } from 'yaml';
import type { PacketInput } from '../api/types.js';
import { KitCluster, manifests } from './cluster.js';

/** A failed expectation, with the case as files a user can run. */
export class PropertyFailure extends Error {
  override name = 'PropertyFailure';
}

/** The case as text: cluster.yaml and packets.jsonl. */
export function formatCase(c: KitCluster, packets: readonly PacketInput[]): string {
  const yaml = manifests(c).map((o) => stringify(o).trimEnd()).join('\n---\n');
  return `--- cluster.yaml ---\n${yaml}\n--- packets.jsonl ---\n${packets.map((p) => JSON.stringify(p)).join('\n')}\n--- end ---`;
}

