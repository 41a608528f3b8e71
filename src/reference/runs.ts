// Where a run of packets ends (assembly/pipeline.ts planBatch, the same rule): a batch is processed in runs, every
// first hop of a run before its second hops, and a run ends before a packet that may belong to the connection of an
// earlier packet of it (a reply to it, or the client's next packet after a reply crossed back to its node). Decided
// from the packets alone, so the same on both backends and for any number of workers.
import { PacketBatch } from '../packet.js';

/** At most this many packets a run (assembly/pipeline.ts RUN_MAX); runs also end at every CHUNK packets. */
export const RUN_MAX = 1024;
export const CHUNK = 4096;

/**
 * End (exclusive) of the run of `batch` starting at packet `a` of `n`. `nodeAddress`: a node id's address (0 for
 * none); `nodesKnown`: how many nodes have one; `natPorts`: the NAT source port range.
 */
export function runEnd(batch: PacketBatch, a: number, n: number, nodesKnown: number, nodeAddress: (id: number) => number,
  natPorts: { min: number; max: number }): number {
  const last = Math.min(n, a + RUN_MAX, (Math.floor(a / CHUNK) + 1) * CHUNK);
  if (nodesKnown <= 1) return last;
  const at = (addr: number, port: number) => addr * 65536 + port;
  const sources = new Set<number>(), dests = new Set<number>();   // (address, port)
  const entered = new Set<number>(), natDests = new Set<number>(); // addresses
  const natPort = (port: number) => port >= natPorts.min && port <= natPorts.max;
  for (let i = a; i < last; i++) {
    const p = batch.get(i);
    const entry = nodeAddress(p.node);
    if (i > a && (
      // it may be a reply: to an earlier packet's source, or to where a node masqueraded one
      sources.has(at(p.daddr, p.dport)) || (natPort(p.dport) && entered.has(p.daddr))
      // an earlier packet may be a reply to it: to its source, or to its node's address where it may be masqueraded
      || dests.has(at(p.saddr, p.sport)) || dests.has(at(entry, p.sport)) || natDests.has(entry))) return i;
    sources.add(at(p.saddr, p.sport)); sources.add(at(entry, p.sport)); // the second: masqueraded, its port kept
    dests.add(at(p.daddr, p.dport));
    entered.add(entry);
    if (natPort(p.dport)) natDests.add(p.daddr);
  }
  return last;
}
