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
