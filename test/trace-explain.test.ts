// A packet no rule translates still says why.
import { expect, it } from 'vitest';
import { createEmulator } from '../src/index.node.js';
import { readManifestFiles } from '../src/node-api.js';
import { internalsOf } from '../src/api/emulator.js';

it('a packet to a cluster IP on a port the Service lacks is explained, in records and their JSON alike', async () => {
  const emu = await createEmulator({ cluster: { files: readManifestFiles('examples/payments/cluster') } });
  const checkout = emu.services().find((s) => s.service === 'payments/checkout:http')!.frontends[0].address.split(':')[0];
  const client = internalsOf(emu).runtime.model.pods.find((p) => p.labels.app === 'gateway')!.podIP!;
  const pkt = { src: client, dst: checkout, sport: 40000, dport: 9999 };
  const [rec] = emu.send(pkt);
  expect(rec.service).toBeNull();
  expect(rec.rule).toBe(`no Service port 9999/TCP at cluster IP ${checkout} (payments/checkout has 8080/TCP): no rule translates it; it is routed on with the cluster IP as destination, which no host owns`);
  const [json] = emu.traceJson([JSON.stringify({ ...pkt, sport: 40001 })]);
  expect(JSON.parse(json).rule).toBe(rec.rule);
  // A packet to a pod address is no such case.
  expect(emu.send({ src: client, dst: client, sport: 40002, dport: 1 })[0].rule).toBeNull();
});

it('takes endpoints by name: a workload as source, a Service or a DNS name resolved from the source\'s namespace', async () => {
  const emu = await createEmulator({ cluster: { files: readManifestFiles('examples/payments/cluster') } });
  const model = internalsOf(emu).runtime.model;
  const gateway = model.pods.filter((p) => p.labels.app === 'gateway').sort((a, b) => (a.name < b.name ? -1 : 1))[0];
  const checkoutIP = model.services.find((s) => s.name === 'checkout')!.clusterIP;
  const [byDns, bySvc] = emu.send([
    { src: 'deploy/payments/gateway', dst: 'checkout:8080' },
    { src: 'deploy/payments/gateway', dst: 'svc/payments/checkout:http' },
  ]);
  for (const r of [byDns, bySvc]) {
    expect(r.in).toMatchObject({ src: gateway.podIP, dst: checkoutIP, dport: 8080 });
    expect(r.verdict).toBe('FORWARDED');
    expect(r.service).toBe('payments/checkout:http');
  }
  expect(byDns.names).toEqual({
    src: `deploy/payments/gateway (pod payments/${gateway.name})`,
    dst: `checkout:8080 (checkout.payments.svc.cluster.local. A ${checkoutIP})`,
  });
  // The JSON form is the same record.
  const [json] = emu.traceJson([JSON.stringify({ src: 'deploy/payments/gateway', dst: 'checkout:8080', sport: 50000 })]);
  expect(JSON.parse(json).names).toEqual(byDns.names);
  // A headless Service's name resolves to a pod; a name that does not exist is an error record naming it.
  expect(emu.send({ src: 'deploy/payments/checkout', dst: 'ledger:5432' })[0].delivered_node).not.toBeNull();
  const [bad] = emu.trace([JSON.stringify({ src: 'deploy/payments/gateway', dst: 'nope:80' })]);
  expect(bad).toMatchObject({ error: expect.stringMatching(/"dst": nope does not resolve from payments\/gateway-.*REFUSED; tried nope.payments.svc.cluster.local., nope.svc.cluster.local., nope.cluster.local., nope./) });
  const [badSrc] = emu.trace([JSON.stringify({ src: 'deploy/payments/nothing', dst: 'checkout:8080' })]);
  expect(badSrc).toMatchObject({ error: expect.stringMatching(/Deployment payments\/nothing has no pods/) });
});

it('resolves a DNS name with real queries through the dataplane: a policy that blocks DNS fails the lookup', async () => {
  const emu = await createEmulator({ cluster: { files: readManifestFiles('examples/payments/cluster') } });
  const [ok] = emu.send({ src: 'deploy/payments/gateway', dst: 'checkout:8080' });
  expect(ok).toMatchObject({ verdict: 'FORWARDED', service: 'payments/checkout:http' });
  // The query went to kube-dns as a UDP packet, and its reply came back through conntrack.
  // (On the client's node, which DNAT'd it; and, when CoreDNS runs on another node, there as it arrived:
  // conntrack is per node.)
  const dnsFlows = emu.conntrack().filter((f) => f.proto === 'UDP' && f.dport === 53 && f.src === ok.in.src && f.service !== null);
  expect(dnsFlows).toHaveLength(1);
  expect(dnsFlows[0]).toMatchObject({ service: 'kube-system/kube-dns:dns' });
  expect(emu.conntrack().filter((f) => f.proto === 'UDP' && f.src === ok.in.src && f.dst === dnsFlows[0].nat.dst && f.service === null).length).toBeLessThanOrEqual(1);
  emu.delete({ kind: 'NetworkPolicy', namespace: 'payments', name: 'allow-dns' });
  const [blocked] = emu.send({ src: 'deploy/payments/gateway', dst: 'checkout:8080', sport: 41000 });
  expect(blocked).toMatchObject({ verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', proto: 'UDP', in: { dport: 53 } });
  expect(blocked.names!.dst).toMatch(/checkout:8080 .*: not resolved, the DNS query 1 of 1 to 10\.96\.0\.10:53 was DROPPED/);
  expect(blocked.policy).toMatch(/egress isolated/);
  // An address or a Service reference needs no lookup: no DNS packet.
  const before = emu.counters().packets;
  emu.send({ src: 'deploy/payments/gateway', dst: 'svc/payments/checkout:http', sport: 41001 });
  expect(emu.counters().packets).toBe(before + 1);
});
