// Runs inside Chromium (served by test/browser-api.test.ts): the library API from the package's browser
// entry (dist/src/index.js), which fetches the core by URL. Applies YAML text of a small cluster, sends a
// connection through a Service, checks verdicts and reverse NAT, snapshots and restores, and leaves a
// JSON-able summary in window.__result.

import { createEmulator, restoreEmulator, InputError, ManifestError } from '/dist/src/index.js';

const CLUSTER = `apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {phase: Running, podIP: 10.244.2.200, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.80, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
`;

async function main() {
  const env = { process: typeof globalThis.process, Buffer: typeof globalThis.Buffer, require: typeof globalThis.require };
  const results = {};
  for (const backend of ['wasm', 'reference']) {
    const emu = await createEmulator({ backend, seed: 5 });
    const report = emu.apply(CLUSTER, { source: 'cluster.yaml' });
    const client = { src: '10.244.2.200', dst: '10.96.0.80', sport: 40000, dport: 80 };
    const [syn] = emu.send({ ...client, flags: 'S', t: 1 });
    const [synack] = emu.send({ src: syn.dst, dst: syn.src, sport: syn.dport, dport: syn.sport, flags: 'SA', t: 1.001 });
    const snap = emu.snapshot();
    const copy = await restoreEmulator(snap);
    const next = (e) => JSON.stringify(e.send([{ ...client, flags: 'A', t: 2 }, { ...client, sport: 40001, flags: 'S', t: 3 }, { ...client, sport: 40002, flags: 'S', t: 3 }]));
    const a = next(emu), b = next(copy);
    let inputError = null, manifestError = null;
    try { emu.send({ ...client, dport: 'eighty' }); } catch (e) { inputError = e instanceof InputError ? e.field : String(e); }
    try { emu.apply('kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}', { source: 'bad.yaml' }); } catch (e) { manifestError = e instanceof ManifestError ? e.message : String(e); }
    results[backend] = {
      objects: report.objects.added.length,
      syn: [syn.verdict, syn.ct_state, syn.dport, syn.service, syn.backend !== null && syn.backend.startsWith('10.244.')],
      reply: [synack.verdict, synack.ct_state, synack.src, synack.sport],
      snapshotBytes: snap.length, forkEqual: a === b, fork: a, counters: emu.counters().verdicts, inputError, manifestError,
    };
  }
  return { ok: true, env, results };
}

main().then(
  (r) => { window.__result = r; document.getElementById('out').textContent = JSON.stringify(r, null, 1); },
  (e) => { window.__result = { ok: false, error: String(e && e.stack || e) }; },
);
