// Run by test/workers.test.ts in a child process under `--liftoff-only` (V8's baseline code, which a fresh process
// runs its first batches in): fresh two-worker dataplanes, each given one batch of new flows, against one worker.
// Prints one line per dataplane: "same" or what differed.
import { createWorkerDataplane } from '../../src/node.js';
import { synthesize, limitsFor, program } from '../../src/controlplane/synthetic.js';
import { fillBatch } from '../../src/traffic.js';
import { TCP } from '../../src/packet.js';

const flows = 1000, tries = Number(process.argv[2] ?? 4);
const cluster = synthesize({ services: 200, backends: 10, clients: 256, design: 'ebpf', seed: 1, nodes: 2 });
const options = { ...limitsFor(cluster, flows), seed: 1, design: 'ebpf' as const, shards: 2 };
options.maxFlows *= 2;
const one = await createWorkerDataplane(options, 1); program(one, cluster);
const b1 = one.allocBatch(flows);
fillBatch(b1, cluster, flows, (i) => i, TCP.SYN); one.process(b1, flows, 1000);
const want = Buffer.from(b1.bytes(flows));
for (let t = 0; t < tries; t++) {
  const two = await createWorkerDataplane(options, 2); program(two, cluster);
  const b2 = two.allocBatch(flows);
  fillBatch(b2, cluster, flows, (i) => i, TCP.SYN);
  let line = 'same';
  try {
    two.process(b2, flows, 1000);
    const got = Buffer.from(b2.bytes(flows));
    if (two.ctCount() !== one.ctCount() || !got.equals(want)) line = `differs: conntrack ${two.ctCount()} entries, one worker ${one.ctCount()}`;
  } catch (e) { line = `failed: ${(e as Error).message}`; }
  console.log(line);
  await two.close();
}
