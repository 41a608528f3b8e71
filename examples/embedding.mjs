// Embedding dpemu in a simulator: the README's "Embedding" example, runnable as it is
// (`node examples/embedding.mjs` in this repository; in your project, after `npm install dpemu`).
import { createEmulator, restoreEmulator } from 'dpemu';
import { readManifestFiles } from 'dpemu/node';

// One emulated cluster: the shop example's manifests (Nodes, Deployments, Services, EndpointSlices).
const emu = await createEmulator({ design: 'ebpf', seed: 42 });
const report = emu.applyFiles(readManifestFiles('examples/shop'));
console.log(`applied ${report.objects.added.length} objects, ${report.services.set} service entries`);

// A client pod opens a connection to the web Service; the backend answers; the client acknowledges.
const [syn] = emu.send({ src: '10.244.0.6', dst: '10.96.0.14', sport: 40000, dport: 80, flags: 'S', t: 1 });
const [synAck] = emu.send({ src: syn.dst, dst: syn.src, sport: syn.dport, dport: syn.sport, flags: 'SA', t: 1.001 });
emu.send({ src: '10.244.0.6', dst: '10.96.0.14', sport: 40000, dport: 80, flags: 'A', t: 1.002 });
console.log(`SYN to ${syn.service} went to ${syn.backend}; the reply came back from ${synAck.src}:${synAck.sport}`);
console.log('verdicts so far:', emu.counters().verdicts);

// Fork the simulation: the copy gives byte-identical records for the same further input.
const fork = await restoreEmulator(emu.snapshot());
const next = { src: '10.244.0.6', dst: '10.96.0.14', sport: 40001, dport: 80, flags: 'S', t: 2 };
const same = JSON.stringify(emu.send(next)) === JSON.stringify(fork.send(next));
console.log(`fork agrees with the original: ${same}`);

// Virtual time: past the SYN lifetime (60 s) the half-open flow is gone; the established one stays (6 h), tracked
// on the client's node and, when its backend is on another node, there too (every node has its own conntrack).
emu.advance(120);
console.log(`live flows after 120 s: ${emu.conntrack().length}`);
