// Testing your own dataplane with dpemu/testing: the README's example, runnable as it is
// (`node examples/own-dataplane.mjs`; in your project, after `npm install dpemu fast-check`).
//
// "My dataplane" is dpemu with its own endpoint choice: every new connection goes to the Service's endpoint
// picked by a hash of the client address (a source-hash scheduler), written on top of dpemu's records.
// The kit's ten properties tell what that variant still gets right, and what it broke.
import fc from 'fast-check';
import { createEmulator } from 'dpemu';
import { properties } from 'dpemu/testing';

/** The variant: dpemu, with new connections rewritten to a source-hash choice among the entry's endpoints. */
async function myDataplane() {
  const emu = await createEmulator({ seed: 1, limits: { maxFlows: 128 } }); // a small conntrack: conntrackFullSafe fills it
  const chosen = new Map(); // flow -> [address, port]
  const hash = (ip) => ip.split('.').reduce((h, x) => (h * 31 + Number(x)) >>> 0, 7);
  return {
    apply: (input, options) => emu.apply(input, options),
    delete: (refs) => emu.delete(refs),
    advance: (seconds) => emu.advance(seconds),
    counters: () => emu.counters(),
    send(packets) {
      return emu.send(packets).map((r) => {
        const flow = `${r.in.src}:${r.in.sport}>${r.in.dst}:${r.in.dport}/${r.proto}`;
        if (r.ct_state === 'NEW' && r.nat.includes('DNAT')) {
          const entry = emu.services().find((s) => s.service === r.service && s.backends.includes(`${r.dst}:${r.dport}`));
          const [address, port] = entry.backends[hash(r.in.src) % entry.backends.length].split(':');
          chosen.set(flow, [address, Number(port)]);
        }
        const mine = chosen.get(flow);
        return mine ? { ...r, dst: mine[0], dport: mine[1] } : r;
      });
    },
  };
}

let firstFailure; // the one to show in full (reverse NAT's, if it failed)
for (const name of Object.keys(properties)) {
  try {
    await fc.assert(properties[name](myDataplane), { numRuns: 10, seed: 1 });
    console.log(`pass  ${name}`);
  } catch (e) {
    const why = String(e.cause?.message ?? e.message);
    console.log(`FAIL  ${name}: ${why.split('\n')[0]}`);
    if (name === 'reverseNat' || !firstFailure) firstFailure = { name, why };
  }
}
if (firstFailure) {
  console.log(`\nThe shrunk case of ${firstFailure.name}, as files for \`dpemu trace --cluster cluster.yaml --packets packets.jsonl\`:`);
  console.log(firstFailure.why.slice(firstFailure.why.indexOf('# cluster.yaml')));
}
