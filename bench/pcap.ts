// `npx tsx bench/pcap.ts [PACKETS] [FLOWS]`: capture file -> dataplane -> capture file (src/bench/pcap.ts).
import { runPcapBench } from '../src/bench/pcap.js';

const nums = process.argv.slice(2).filter((a) => !a.startsWith('-')).map((a) => Number(a.replace(/_/g, '')));
const r = await runPcapBench({ packets: nums[0], flows: nums[1], log: (s) => process.stderr.write(s + '\n') });
console.log(`pcap file to file: ${r.packets} packets over ${r.flows} flows; runs ${r.runs.map((x) => x.toFixed(2)).join(', ')} Mpps; median ${r.medianMpps.toFixed(2)} Mpps`);
