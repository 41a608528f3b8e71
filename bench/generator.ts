// How fast dpemu run's traffic generator writes packets, alone (no dataplane): connections opened at a
// steady rate, their packets written into a batch and "processed" by copying each packet's addresses to its
// output fields (what a dataplane that translates nothing would write), every step scheduled as in a run.
// Target: at least 5 Mpps of generated packets, so that the generator is never what limits a run.
//   npx tsx bench/generator.ts [connections per ms] [ms] [requests]

import { Generator, Random } from '../src/run/generator.js';
import { PKT, PROTO, VERDICT } from '../src/packet.js';

const perMs = Number(process.argv[2] ?? 200);
const ms = Number(process.argv[3] ?? 2000);
const requests = Number(process.argv[4] ?? 4);

function once(): { packets: number; seconds: number } {
  const random = new Random(1);
  const gen = new Generator(1, random, () => 1, { addr: 0x0a60000a, port: 53 });
  const cap = 8192;
  const u8 = new Uint8Array(cap * PKT.STRIDE);
  const dv = new DataView(u8.buffer);
  let packets = 0;
  const t0 = performance.now();
  for (let tick = 0; tick < ms; tick++) {
    for (let k = 0; k < perMs; k++) {
      gen.open({ client: 0x0af40000 + (k & 255), clientPort: 32768 + ((tick * perMs + k) % 28000), node: 0, dst: 0x0a600010, dport: 80, proto: PROTO.TCP,
        entry: 0, requests, requestBytes: 200, responseBytes: 1200, lifetimeMs: 20, rst: false, dnsQueries: 0, dnsAddr: 0, dnsFails: false, retransmit: 0 }, tick);
    }
    do {
      const n = gen.fill(u8, cap, tick);
      if (n === 0) break;
      for (let i = 0, o = 0; i < n; i++, o += PKT.STRIDE) {
        dv.setUint32(o + PKT.OUT_SADDR, dv.getUint32(o + PKT.SADDR, true), true);
        dv.setUint32(o + PKT.OUT_DADDR, dv.getUint32(o + PKT.DADDR, true), true);
        dv.setUint32(o + PKT.OUT_SPORT, dv.getUint32(o + PKT.SPORT, true), true); // both ports
        u8[o + PKT.VERDICT] = VERDICT.FORWARDED;
      }
      gen.absorb(u8, n, tick);
      packets += n;
    } while (gen.hasPending);
  }
  return { packets, seconds: (performance.now() - t0) / 1000 };
}

const rates: number[] = [];
for (let r = 0; r < 5; r++) {
  const { packets, seconds } = once();
  rates.push(packets / seconds / 1e6);
  console.log(`run ${r + 1}: ${packets} packets in ${seconds.toFixed(3)} s = ${(packets / seconds / 1e6).toFixed(2)} Mpps`);
}
rates.sort((a, b) => a - b);
console.log(`median ${rates[2].toFixed(2)} Mpps (target >= 5)`);
