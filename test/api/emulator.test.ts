// The library API as a simulator uses it: create, apply manifests, send packets, read records, counters and
// conntrack, move time, take the zero-copy path, fork with snapshot/restore. Every error is a typed one and
// leaves the emulator working.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import {
  createEmulator, restoreEmulator, DpemuError, InputError, CapacityError, ManifestError, SnapshotError, Emulator, PacketInput,
  FlowRecord, DESIGN_NAMES, VERSION,
} from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';
import { createTracer, traceLines } from '../../src/trace.js';
import type { Design } from '../../src/dataplane.js';

const SHOP = readManifestFiles('examples/shop');
const SHOP_LINES = readFileSync('examples/shop-packets.jsonl', 'utf8').trim().split('\n');
const SHOP_PACKETS = SHOP_LINES.map((l) => JSON.parse(l)).filter((o) => !('apply' in o) && !('delete' in o)) as PacketInput[];

async function shop(options: Parameters<typeof createEmulator>[0] = {}): Promise<Emulator> {
  const emu = await createEmulator(options);
  emu.applyFiles(SHOP);
  return emu;
}

const WEB = `apiVersion: v1
kind: Service
metadata: {name: extra, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 81, targetPort: 8080}]
`;

describe('createEmulator', () => {
  it('gives the records dpemu trace prints, on both backends alike', async () => {
    const files = SHOP.map((f) => ({ ...f }));
    const traced = traceLines(await createTracer(files, { backend: 'wasm', cwd: '.' }), SHOP_LINES.filter((l) => !l.includes('"apply"') && !l.includes('"delete"')));
    const wasm = (await shop()).send(SHOP_PACKETS);
    const ref = (await shop({ backend: 'reference' })).send(SHOP_PACKETS);
    expect(JSON.stringify(wasm)).toBe(JSON.stringify(ref));
    // The API numbers records by packet; dpemu trace by input line: everything else is the same.
    expect(wasm.map(({ line: _l, ...r }) => r)).toEqual(traced.map((r) => { const { line: _l, ...rest } = r as FlowRecord; return rest; }));
    expect(wasm[0]).toMatchObject({ verdict: 'FORWARDED', ct_state: 'NEW', nat: ['DNAT'], service: 'shop/web:http' });
    expect(wasm[1]).toMatchObject({ ct_state: 'REPLY', src: '10.96.0.14', sport: 80 }); // reverse NAT to the service address
  });

  it('is deterministic: the same seed and inputs give the same bytes; another seed may choose otherwise', async () => {
    const many: PacketInput[] = Array.from({ length: 200 }, (_, i) => ({ src: '10.244.0.6', dst: '10.96.0.14', sport: 20000 + i, dport: 80, t: 10 }));
    const a = JSON.stringify((await shop({ seed: 3 })).send(many));
    const b = JSON.stringify((await shop({ seed: 3 })).send(many));
    const c = JSON.stringify((await shop({ seed: 4 })).send(many));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('loads options.cluster at creation and sizes the maps for it', async () => {
    const emu = await createEmulator({ cluster: SHOP.map((f) => f.text).join('\n---\n') });
    expect(emu.services().map((s) => s.service)).toContain('shop/web:http');
    expect(emu.send(SHOP_PACKETS[0])[0].verdict).toBe('FORWARDED');
  });

  it('applies YAML text, parsed objects and deletes, reporting what changed', async () => {
    const emu = await shop();
    const added = emu.apply(WEB, { source: 'extra.yaml' });
    expect(added.objects.added).toEqual(['Service shop/extra']);
    expect(added.services.set).toBeGreaterThan(0);
    const svc = emu.services().find((s) => s.service === 'shop/extra:http')!;
    const vip = svc.frontends[0].address.split(':')[0];
    expect(emu.send({ src: '10.244.0.6', dst: vip, sport: 1234, dport: 81 })[0]).toMatchObject({ verdict: 'FORWARDED', dport: 8080 });
    const removed = emu.delete({ kind: 'Service', namespace: 'shop', name: 'extra' });
    expect(removed.objects.removed).toEqual(['Service shop/extra']);
    expect(emu.send({ src: '10.244.0.6', dst: vip, sport: 1235, dport: 81 })[0].service).toBeNull();
    emu.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'more' } });
    expect(emu.delete([{ kind: 'Namespace', name: 'more' }]).objects.removed).toEqual(['Namespace more']);
  });

  it('moves time: flows expire on the virtual clock and conntrack lists the live ones', async () => {
    const emu = await shop();
    emu.send({ src: '10.244.0.6', dst: '10.96.0.10', sport: 5353, dport: 53, proto: 'UDP' });
    const live = emu.conntrack();
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ proto: 'UDP', dst: '10.96.0.10', state: 'OPEN', packets: 1, service: 'kube-system/kube-dns:dns' });
    emu.advance(59);
    expect(emu.conntrack()).toHaveLength(1);
    emu.advance(2); // past the 60 s non-TCP lifetime
    expect(emu.now).toBe(61);
    expect(emu.conntrack()).toHaveLength(0);
    expect(emu.counters().ctExpired).toBe(1);
  });

  it('explain() tells what would happen and changes nothing', async () => {
    const emu = await shop();
    const before = { counters: emu.counters(), ct: emu.conntrack(), now: emu.now };
    const explained = emu.explain(SHOP_PACKETS[0]);
    expect({ counters: emu.counters(), ct: emu.conntrack(), now: emu.now }).toEqual(before);
    expect(emu.send(SHOP_PACKETS[0])[0]).toEqual(explained);
  });

  it('zero copy: a batch in the core memory gives the same outcomes as send()', async () => {
    const a = await shop(), b = await shop();
    const packets = SHOP_PACKETS.filter((p) => (p.t ?? 0) <= 1.002).map(({ t: _t, ...p }) => p);
    const batch = a.createBatch(packets.length);
    packets.forEach((p, i) => batch.set(i, p));
    const forwarded = a.process(batch, packets.length);
    const sent = b.send(packets);
    expect(forwarded).toBe(sent.filter((r) => r.verdict === 'FORWARDED').length);
    packets.forEach((_, i) => {
      const r = sent[i];
      expect(batch.get(i)).toEqual({ verdict: r.verdict, drop_reason: r.drop_reason, src: r.src, sport: r.sport, dst: r.dst, dport: r.dport,
        ct_state: r.ct_state, service: r.service, backend: r.backend });
    });
    expect(() => b.process(batch, 1)).toThrow(InputError); // a batch of another emulator is refused
    expect(() => a.process(batch, packets.length + 1)).toThrow(InputError);
  });

  it('tells observers: onFlow and the flows() iterator see every record', async () => {
    const emu = await shop();
    const seen: FlowRecord[] = [];
    const off = emu.onFlow((r) => seen.push(r));
    const ac = new AbortController();
    const iter = emu.flows(ac.signal);
    const sent = emu.send(SHOP_PACKETS.slice(0, 3));
    off();
    emu.send(SHOP_PACKETS[3]);
    expect(seen).toEqual(sent);
    const got: FlowRecord[] = [];
    for await (const r of iter) { got.push(r); if (got.length === 4) ac.abort(); }
    expect(got).toEqual([...sent, expect.objectContaining({ line: 4 })]);
  });
});

describe('typed errors: each names what is wrong and leaves the emulator working', () => {
  it('options', async () => {
    await expect(createEmulator({ design: 'bpf' as Design })).rejects.toThrow(InputError);
    await expect(createEmulator({ seed: -1 })).rejects.toMatchObject({ code: 'INPUT', field: 'seed' });
    await expect(createEmulator({ sed: 1 } as never)).rejects.toThrow(/unknown option "sed"/);
    await expect(createEmulator({ limits: { maxFlow: 3 } as never })).rejects.toThrow(/limits.maxFlow/);
    await expect(createEmulator({ wasm: new Uint8Array([1, 2, 3]) })).rejects.toMatchObject({ code: 'INPUT', field: 'wasm' });
  });

  it('packets: InputError naming the packet and field, before anything ran', async () => {
    const emu = await shop();
    const before = emu.counters();
    const err = (() => { try { emu.send([SHOP_PACKETS[0], { ...SHOP_PACKETS[1], src: '10.0.0.300' }]); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InputError);
    expect(err).toBeInstanceOf(DpemuError);
    expect(err).toMatchObject({ field: 'packets[1].src', message: expect.stringContaining('"src": "10.0.0.300" is not an IPv4 address') });
    expect(emu.counters()).toEqual(before); // the good first packet did not run either
    expect(() => emu.send({ src: '10.244.0.6', dst: '10.96.0.14', sport: 1, dport: 80, flags: 'X' })).toThrow(/"flags"/);
    expect(() => emu.send({ src: '10.244.0.6', dst: '10.96.0.14', sport: 1, dport: 80, t: -1 })).toThrow(InputError);
    expect(() => emu.advance(Number.NaN)).toThrow(InputError);
    expect(emu.send(SHOP_PACKETS[0])[0].verdict).toBe('FORWARDED');
  });

  it('manifests: ManifestError with file, object and field; nothing applied', async () => {
    const emu = await shop();
    const bad = WEB.replace('port: 81', 'port: 81x');
    const err = (() => { try { emu.apply(bad, { source: 'extra.yaml' }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ManifestError);
    expect(err).toMatchObject({ file: 'extra.yaml', object: 'Service shop/extra', field: 'spec.ports[0].port', code: 'MANIFEST' });
    expect(emu.services().map((s) => s.service)).not.toContain('shop/extra:http');
    expect(emu.apply(WEB).objects.added).toEqual(['Service shop/extra']);
  });

  it('capacity: CapacityError naming the map and its size', async () => {
    const emu = await createEmulator({ limits: { maxServices: 4 } });
    const err = (() => { try { emu.applyFiles(SHOP); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(CapacityError);
    expect(err).toMatchObject({ code: 'CAPACITY', capacity: 4 });
  });

  it('snapshots of another version or damaged ones are refused with SnapshotError', async () => {
    const emu = await shop();
    const snap = emu.snapshot();
    const damaged = snap.slice(); damaged[100] ^= 1;
    await expect(restoreEmulator(damaged)).rejects.toThrow(SnapshotError);
    await expect(restoreEmulator(snap.slice(0, 50))).rejects.toThrow(/damaged|truncated/);
    await expect(restoreEmulator(new Uint8Array(40))).rejects.toThrow(/not a dpemu snapshot/);
    // Another version: the header names it (rewrite the version and fix the checksum as a real file would have it).
    const text = new TextDecoder().decode(snap.subarray(16, 16 + new DataView(snap.buffer).getUint32(12, true)));
    expect(text).toContain(`"dpemu":"${VERSION}"`);
    const other = reencode(snap, text.replace(`"dpemu":"${VERSION}"`, '"dpemu":"0.0.1"'));
    await expect(restoreEmulator(other)).rejects.toThrow(/made by dpemu 0.0.1/);
  });
});

/** The snapshot with another JSON header (and a fresh checksum). */
function reencode(snap: Uint8Array, header: string): Uint8Array {
  const v = new DataView(snap.buffer, snap.byteOffset);
  const len = v.getUint32(12, true);
  const json = new TextEncoder().encode(header);
  const rest = snap.subarray(16 + len, snap.length - 4);
  const out = new Uint8Array(16 + json.length + rest.length + 4);
  out.set(snap.subarray(0, 12)); new DataView(out.buffer).setUint32(12, json.length, true);
  out.set(json, 16); out.set(rest, 16 + json.length);
  // The snapshot's checksum (src/api/snapshot.ts): FNV-1a over little-endian 32-bit words, then the tail bytes.
  const end = out.length - 4, dv = new DataView(out.buffer);
  let h = 0x811c9dc5;
  for (let i = 0; i < end >>> 2; i++) h = Math.imul(h ^ dv.getUint32(i * 4, true), 0x01000193);
  for (let i = (end >>> 2) * 4; i < end; i++) h = Math.imul(h ^ out[i], 0x01000193);
  dv.setUint32(end, h >>> 0, true);
  return out;
}

/** Random traffic over the shop cluster: clients (pods, an outside client), frontends, flags, time steps, replies. */
const CLIENTS = ['10.244.0.6', '10.244.0.5', '10.244.1.2', '203.0.113.9'];
const FRONTENDS: [string, number, string][] = [['10.96.0.14', 80, 'TCP'], ['10.96.0.12', 8000, 'TCP'], ['10.96.0.10', 53, 'UDP'], ['192.168.1.11', 30080, 'TCP'], ['198.51.100.20', 80, 'TCP']];
const step = fc.record({
  client: fc.constantFrom(...CLIENTS), fe: fc.constantFrom(...FRONTENDS), sport: fc.integer({ min: 40000, max: 40005 }),
  flags: fc.constantFrom('S', 'A', 'SA', 'F', 'R'), dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 90, noNaN: true })),
  node: fc.constantFrom('node-a', 'node-b', 'node-c'), reply: fc.boolean(),
});
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** Turn steps into packets for `emu`, sending them one batch at a time; a reply answers the last record. */
function drive(emu: Emulator, steps: Step[]): string[] {
  const out: string[] = [];
  let last: FlowRecord | undefined;
  for (const s of steps) {
    const t = Math.round((emu.now + s.dt) * 1000) / 1000;
    let p: PacketInput;
    if (s.reply && last && last.verdict === 'FORWARDED' && last.proto !== 'ICMP') {
      p = { src: last.dst, dst: last.src, sport: last.dport, dport: last.sport, proto: last.proto, t, ...(last.proto === 'TCP' ? { flags: 'SA' } : {}) };
      if (!CLIENTS.slice(0, 3).includes(p.src) && !p.src.startsWith('10.244.')) p.node = s.node;
    } else {
      const [dst, dport, proto] = s.fe;
      p = { src: s.client, dst, sport: s.sport, dport, proto, t, ...(proto === 'TCP' ? { flags: s.flags } : {}) };
      if (s.client === '203.0.113.9' && !dst.startsWith('192.168.')) p.node = s.node;
    }
    try {
      const [r] = emu.send(p);
      last = r;
      out.push(JSON.stringify(r));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      out.push(`error: ${(e as Error).message}`);
    }
  }
  return out;
}

describe('snapshot and restore', () => {
  it('a restored copy gives byte-identical records for the same further input (random traffic, every design, both backends)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...DESIGN_NAMES), fc.constantFrom('wasm' as const, 'reference' as const), fc.integer({ min: 1, max: 1000 }),
      fc.array(step, { maxLength: 25 }), fc.boolean(), fc.array(step, { minLength: 1, maxLength: 25 }),
      async (design, backend, seed, before, change, after) => {
        const emu = await shop({ design, backend, seed, flows: 1024 });
        drive(emu, before);
        if (change) emu.apply(WEB); // the control-plane log is part of the state
        const copy = await restoreEmulator(emu.snapshot());
        expect(copy.now).toBe(emu.now);
        expect(copy.counters()).toEqual(emu.counters());
        expect(copy.conntrack()).toEqual(emu.conntrack());
        expect(drive(copy, after)).toEqual(drive(emu, after));
        expect(Buffer.compare(copy.snapshot(), emu.snapshot())).toBe(0);
      }), { numRuns: 25 });
  });
});

describe('atomic apply', () => {
  it('an apply that fails leaves the next records identical to an emulator that never saw it', async () => {
    const broken = WEB + '---\n' + WEB.replace('name: extra', 'name: extra2').replace('port: 81', 'port: 0');
    const tiny = { limits: { maxServices: 40 } };
    const seen = await shop(tiny), fresh = await shop(tiny);
    expect(() => seen.apply(broken)).toThrow(ManifestError);
    // A change that would overfill the services map (40 entries; the shop uses about 30).
    const many = Array.from({ length: 12 }, (_, i) => WEB.replace('name: extra', `name: extra${i}`).replace('port: 81', `port: ${81 + i}`)).join('---\n');
    expect(() => seen.apply(many)).toThrow(CapacityError);
    expect(JSON.stringify(seen.send(SHOP_PACKETS))).toBe(JSON.stringify(fresh.send(SHOP_PACKETS)));
    expect(seen.services()).toEqual(fresh.services());
    expect(seen.apply(WEB).objects.added).toEqual(['Service shop/extra']); // and it still takes changes
  });
});

describe('traceJson', () => {
  it('prints exactly JSON.stringify of what trace() returns (policies, errors, changes, every design)', async () => {
    const netpol = readManifestFiles('examples/netpol');
    const lines = readFileSync('examples/netpol-packets.jsonl', 'utf8').trim().split('\n');
    const extra = ['not json', '{"src":"1.2.3.4"}', '', JSON.stringify({ apply: 'examples/shop/10-web.yaml' }), ...SHOP_LINES];
    for (const design of DESIGN_NAMES) {
      for (const backend of ['wasm', 'reference'] as const) {
        const a = await createEmulator({ design, backend, cluster: { files: netpol } });
        const b = await createEmulator({ design, backend, cluster: { files: netpol } });
        const opts = { readFiles: readManifestFiles };
        const json = a.traceJson([...lines, ...extra], opts);
        const objects = b.trace([...lines, ...extra], opts).map((r) => JSON.stringify(r));
        expect(json).toEqual(objects);
        expect(json.some((l) => l.includes('"policy":"egress allowed by'))).toBe(true);
      }
    }
  });
});

describe('allocations and failed changes', () => {
  const vipsOf = (emu: Emulator) => new Map(emu.services().filter((s) => s.scope === 'any').map((s) => [s.service, s.frontends.map((f) => f.address).sort().join(' ')]));

  it('an allocated cluster IP or node port never moves when other Services come and go', async () => {
    const emu = await shop();
    const before = vipsOf(emu);
    const [syn] = emu.send(SHOP_PACKETS[0]);
    // "aaa" sorts before every shop Service and has no clusterIP: it must get a free address, not take web's.
    emu.apply(WEB.replace('name: extra', 'name: aaa').replace('port: 81', 'port: 82'));
    emu.apply(`apiVersion: v1
kind: Service
metadata: {name: aab, namespace: shop}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 83, targetPort: 8080}]}
`);
    const after = vipsOf(emu);
    for (const [svc, vips] of before) expect(after.get(svc), svc).toBe(vips);
    // The connection to web goes on to the same backend.
    expect(emu.send({ ...SHOP_PACKETS[2] })[0]).toMatchObject({ ct_state: 'ESTABLISHED', backend: syn.backend });
    // Applying web again without its clusterIP keeps the one it has.
    const web = SHOP.find((f) => f.text.includes('name: web\n'))!;
    emu.apply(web.text.replace(/^\s*clusterIP: .*$/m, ''), { source: web.path });
    expect(vipsOf(emu).get('shop/web:http')).toBe(before.get('shop/web:http'));
  });

  it('after a failed change, later ones still apply; a failed change programs none of its policies', async () => {
    const emu = await shop({ limits: { maxServices: 40 } });
    const many = Array.from({ length: 12 }, (_, i) => WEB.replace('name: extra', `name: extra${i}`).replace('port: 81', `port: ${81 + i}`)).join('---\n');
    const deny = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;
    expect(() => emu.apply(deny + '---\n' + many)).toThrow(CapacityError);
    expect(emu.send(SHOP_PACKETS[0])[0]).toMatchObject({ verdict: 'FORWARDED', policy: null }); // the policy is not there
    expect(emu.apply(WEB).objects.added).toEqual(['Service shop/extra']);
    expect(emu.send({ src: '10.244.0.6', dst: emu.services().find((s) => s.service === 'shop/extra:http')!.frontends[0].address.split(':')[0], sport: 7, dport: 81 })[0].verdict).toBe('FORWARDED');
  });
});

describe('kinds', () => {
  it('a cluster-scoped object is named without a namespace, also when its manifest carries one', async () => {
    const emu = await shop();
    const anp = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: xy, namespace: shop}
spec:
  priority: 10
  subject: {namespaces: {}}
  ingress: [{name: r, action: Allow, from: [{namespaces: {}}]}]
`;
    expect(emu.apply(anp).objects.added).toEqual(['AdminNetworkPolicy xy']);
    expect(emu.delete({ kind: 'AdminNetworkPolicy', name: 'xy' }).objects.removed).toEqual(['AdminNetworkPolicy xy']);
  });
});

describe('NetworkPolicy without podSelector', () => {
  it('selects every pod of its namespace (the field defaults to an empty selector), on both backends', async () => {
    for (const backend of ['wasm', 'reference'] as const) {
      const emu = await shop({ backend });
      emu.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in, namespace: shop}
spec: {policyTypes: [Ingress]}
`);
      const [r] = emu.send(SHOP_PACKETS[0]); // a shop pod to the shop web Service: now isolated for ingress
      expect(r, backend).toMatchObject({ verdict: 'DROPPED', drop_reason: 'POLICY_DENIED' });
      expect(r.policy, backend).toMatch(/deny-in/);
    }
  });
});

it('a default emulator and its restored copy take the same snapshot, byte for byte', async () => {
  const { createEmulator: create, restoreEmulator: restore } = await import('../../src/index.node.js');
  const emu = await create();
  const a = emu.snapshot();
  const copy = await restore(a);
  expect(Buffer.from(copy.snapshot()).equals(Buffer.from(a))).toBe(true);
});

it('a restored emulator makes the same weighted north-south choices as the original (the draw is in the snapshot)', async () => {
  const { createEmulator: create, restoreEmulator: restore } = await import('../../src/index.node.js');
  const { readManifestFiles: read } = await import('../../src/node-api.js');
  for (const backend of ['wasm', 'reference'] as const) {
    const emu = await create({ backend, cluster: { files: read('examples/gateway') } });
    // /cart with no header splits 90/10 between store-v1 and store-v2 by weight.
    const req = (i: number) => ({ src: '198.51.100.7', sport: 42000 + i, dst: '203.0.113.50', dport: 80, http: { method: 'GET', host: 'shop.example.com', path: '/cart' } });
    emu.send(Array.from({ length: 7 }, (_, i) => req(i)));
    const copy = await restore(emu.snapshot());
    const after = (e: typeof emu) => e.send(Array.from({ length: 40 }, (_, i) => req(100 + i))).map((r) => r.http?.backend_service);
    expect(after(copy)).toEqual(after(emu));
  }
});
