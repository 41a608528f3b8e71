// Adversarial input, as a user probing dpemu would send it: each finding below once crashed, hung, or was
// silently accepted. Every bad input gets a clear error; nothing traps the WebAssembly instance; nothing
// already loaded is lost; the next valid input works.

import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, symlinkSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulator, DpemuError, ManifestError, Emulator } from '../src/index.node.js';
import { readManifestFiles } from '../src/node-api.js';
import { loadFiles, readManifestFiles as readFiles } from '../src/k8s/files.js';
import { createDataplane } from '../src/node.js';
import { DataplaneError } from '../src/dataplane.js';
import { PKT } from '../src/packet.js';
import { ROOT, ensureBuilt } from './helpers/build.js';

const SHOP = readManifestFiles('examples/shop');
const LONG = process.env.DPEMU_LONG === '1';
const shop = async (backend: 'wasm' | 'reference' = 'wasm') => { const e = await createEmulator({ backend }); e.applyFiles(SHOP); return e; };
const GOOD = JSON.stringify({ src: '10.244.0.6', dst: '10.96.0.14', sport: 40000, dport: 80 });

/** A YAML "billion laughs": nine levels of ten aliases each. */
const BOMB = [
  'a0: &a0 [x, x, x, x, x, x, x, x, x, x]',
  ...Array.from({ length: 8 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`),
  'kind: ConfigMap', 'apiVersion: v1', 'metadata: {name: bomb}', 'data: *a8', '',
].join('\n');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dpemu-hard-'));
  writeFileSync(join(dir, 'bomb.yaml'), BOMB);
  mkdirSync(join(dir, 'loop'));
  writeFileSync(join(dir, 'loop', 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: looped}\n');
  symlinkSync(join(dir, 'loop'), join(dir, 'loop', 'again'));
  mkdirSync(join(dir, 'devices'));
  symlinkSync('/dev/zero', join(dir, 'devices', 'zero.yaml'));
  execFileSync('mkfifo', [join(dir, 'fifo.yaml')]);
  writeFileSync(join(dir, 'deep.json'), `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"deep"},"status":${'{"x":'.repeat(10000)}1${'}'.repeat(10000)}}`);
  writeFileSync(join(dir, 'deep.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: {name: deep}\nstatus: ${'['.repeat(10000)}${']'.repeat(10000)}\n`);
});

describe('trace input lines', () => {
  it('a line nested thousands of levels deep gets one error record; the stream goes on', async () => {
    const emu = await shop();
    const deep = `{"src":${'['.repeat(5000)}${']'.repeat(5000)},"dst":"10.96.0.14","sport":1,"dport":80}`;
    const out = emu.trace([deep, '['.repeat(100000) + ']'.repeat(100000), GOOD]);
    expect(out[0]).toEqual({ line: 1, error: expect.stringContaining('"src": a list of 1 is not an IPv4 address') });
    expect(out[1]).toMatchObject({ line: 2, error: expect.any(String) });
    expect(out[2]).toMatchObject({ line: 3, verdict: 'FORWARDED' });
  });

  it('a byte-order mark before the first line is read past', async () => {
    expect((await shop()).trace(['\ufeff' + GOOD])[0]).toMatchObject({ verdict: 'FORWARDED' });
  });

  it('TCP flags are ASCII letters: "ß" is refused, not read as "SS"', async () => {
    const emu = await shop();
    const [r] = emu.trace([JSON.stringify({ ...JSON.parse(GOOD), flags: 'ß' })]);
    expect(r).toEqual({ line: 1, error: expect.stringContaining('unknown TCP flag "ß"') });
    expect(emu.counters().packets).toBe(0);
  });

  it('an error record never repeats a huge bad value', async () => {
    const emu = await shop();
    const [r] = emu.trace([JSON.stringify({ ...JSON.parse(GOOD), src: 'x'.repeat(10_000_000) })]);
    expect('error' in r && r.error.length).toBeLessThan(300);
    expect('error' in r && r.error).toContain('(10000000 characters)');
  });
});

describe('manifest files', () => {
  it('a YAML alias bomb is refused at once, naming the file and document (loader and apply lines)', async () => {
    const t0 = Date.now();
    expect(() => loadFiles([join(dir, 'bomb.yaml')])).toThrow(ManifestError);
    expect(() => loadFiles([join(dir, 'bomb.yaml')])).toThrow(`${join(dir, 'bomb.yaml')}: document 1: too many aliases`);
    const emu = await shop();
    const [r] = emu.trace([JSON.stringify({ apply: join(dir, 'bomb.yaml') })], { readFiles: readManifestFiles });
    expect(r).toEqual({ line: 1, error: expect.stringContaining('too many aliases') });
    expect(() => emu.apply(BOMB, { source: 'inline.yaml' })).toThrow('inline.yaml: document 1: too many aliases');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(emu.trace([GOOD])[0]).toMatchObject({ verdict: 'FORWARDED' }); // nothing lost
  });

  it('FIFOs and devices are refused as not regular files; a link loop is read once', () => {
    expect(() => readFiles([join(dir, 'fifo.yaml')])).toThrow(/fifo\.yaml: a FIFO, not a manifest file/);
    expect(() => readFiles([join(dir, 'devices')])).toThrow(/zero\.yaml: a device, not a manifest file/);
    const looped = readFiles([join(dir, 'loop')]);
    expect(looped.map((f) => f.path)).toEqual([join(dir, 'loop', 'ns.yaml')]);
    expect(() => readFiles([join(dir, 'nope.yaml')])).toThrow(/nope\.yaml: no such file or directory/);
  });

  it('files over the size limit are refused, naming them', () => {
    expect(() => readFiles([join(dir, 'bomb.yaml')], 100)).toThrow(/bomb\.yaml: \d+ bytes, larger than the 100 a manifest file may have/);
  });

  it('a deeply nested value in an ignored field does not matter; YAML too deep for the parser is a clear error', () => {
    expect(loadFiles([join(dir, 'deep.json')]).model.namespaces.map((n) => n.name)).toContain('deep');
    expect(() => loadFiles([join(dir, 'deep.yaml')])).toThrow(/deep\.yaml: document 1: nested too deeply for the YAML parser/);
  });
});

describe('library calls with bad arguments', () => {
  const BAD = [Number.NaN, 1.5, -1, 2 ** 32, null, '7', undefined] as unknown as number[];

  it('both backends refuse exactly the same calls with the same words, and a refused call changes nothing', async () => {
    const outcome = async (kind: 'wasm' | 'reference') => {
      const emu = await shop(kind);
      emu.send(JSON.parse(GOOD));
      const dp = (emu as unknown as { dp: import('../src/dataplane.js').Dataplane }).dp;
      const said: string[] = [];
      const call = (f: () => unknown) => { try { said.push(`ok ${JSON.stringify(f())}`); } catch (e) { said.push(e instanceof DataplaneError ? e.message : `OTHER ${e}`); } };
      for (const v of BAD) {
        call(() => dp.flushBackend(v, 0));
        call(() => dp.flushBackend(0, v));
        call(() => dp.deleteIpcache(v, 32));
        call(() => dp.deleteIpcache(0x0af40006, v));
        call(() => dp.deleteFrontend({ addr: v, port: 80, proto: 6 }));
        call(() => dp.deleteFrontend({ addr: 0x0a60000e, port: v, proto: 6 }));
        call(() => dp.deleteSourceRange(v, 0, 0));
        call(() => dp.backendActive(v));
        call(() => dp.backendInactive(v));
        call(() => dp.flow(v, 0, 0, 0, 6, 0));
        if (v !== 2 ** 32) call(() => dp.gc(v)); // 2^32 ms is a valid time (virtual time goes past a u32)
      }
      call(() => dp.deleteFrontend(null as never));
      return { said, ct: emu.conntrack(), next: emu.send({ ...JSON.parse(GOOD), flags: 'A' }) };
    };
    const wasm = await outcome('wasm'), ref = await outcome('reference');
    expect(wasm.said).toEqual(ref.said);
    expect(wasm.said.filter((s) => s.startsWith('OTHER'))).toEqual([]);
    expect(wasm.ct).toHaveLength(1); // the live flow survived every refused call
    expect(wasm.ct).toEqual(ref.ct);
    expect(wasm.next[0]).toMatchObject({ ct_state: 'ESTABLISHED' });
  });

  it("a batch of one dataplane given to another's process() is refused, and both keep working", async () => {
    const a = await createDataplane('wasm'), b = await createDataplane('wasm'), r = await createDataplane('reference');
    const batch = a.allocBatch(4);
    expect(() => b.process(batch, 1, 0)).toThrow(DataplaneError);
    expect(() => r.process(batch, 1, 0)).toThrow(/not made by this dataplane/);
    expect(() => a.process(r.allocBatch(4), 1, 0)).toThrow(DataplaneError);
    expect(b.process(b.allocBatch(4), 4, 0)).toBe(0); // four empty descriptors: dropped, no trap
    expect(a.process(batch, 4, 0)).toBe(0);
  });
});

describe('fuzzing every input', () => {
  const runs = LONG ? 2000 : 150;

  it('random bytes as packet batches: no trap, a verdict for every packet, the same on both backends', async () => {
    const emus = await Promise.all([shop('wasm'), shop('reference')]);
    const batches = emus.map((e) => e.createBatch(64));
    fc.assert(fc.property(fc.uint8Array({ minLength: PKT.STRIDE, maxLength: PKT.STRIDE * 64 }), (bytes) => {
      const n = Math.floor(bytes.length / PKT.STRIDE);
      const outs = emus.map((e, k) => {
        const raw = batches[k].raw;
        raw.bytes(n).set(bytes.subarray(0, n * PKT.STRIDE));
        e.process(batches[k], n);
        return Array.from(raw.bytes(n));
      });
      expect(outs[0]).toEqual(outs[1]);
      for (let i = 0; i < n; i++) expect(batches[0].get(i).verdict).not.toBe('NONE');
    }), { numRuns: runs });
    expect(emus[0].counters()).toEqual(emus[1].counters());
  });

  it('random and adversarial map updates: both backends accept and refuse the same, and then agree on traffic', async () => {
    const limits = { maxServices: 8, maxFrontends: 8, maxBackends: 8, maxSlots: 16, maxIpcache: 8, maxPolicy: 8, maxNodes: 4, maxFlows: 64, maxAffinity: 16, maxMaglevCells: 64 };
    const num = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 9 }) },
      fc.constantFrom(Number.NaN, -1, 1.5, 2 ** 32, 65536, 0x0a000001, 0xffffffff) as fc.Arbitrary<number>);
    const addr = fc.oneof(fc.constantFrom(0x0a000001, 0x0a000002, 0x0a600001, 0xc0a80001), num);
    const op = fc.oneof(
      fc.record({ k: fc.constant('node'), id: num, addr }),
      fc.record({ k: fc.constant('backend'), id: num, addr, port: fc.oneof(fc.constant(8080), num), node: num }),
      fc.record({ k: fc.constant('service'), index: num, algo: fc.constantFrom('random', 'rr', 'maglev', 'bogus'), backends: fc.array(num, { maxLength: 4 }), flags: num, affinity: fc.constantFrom(0, 10, -1) }),
      fc.record({ k: fc.constantFrom('upsertFrontend', 'deleteFrontend'), addr, port: fc.oneof(fc.constant(80), num), proto: fc.constantFrom(6, 17, 132, 1, 0), index: num }),
      fc.record({ k: fc.constantFrom('upsertIpcache', 'deleteIpcache'), addr, plen: fc.oneof(fc.constant(32), num), identity: num }),
      fc.record({ k: fc.constantFrom('upsertPolicy', 'deletePolicy'), endpoint: num, identity: num, port: num, proto: fc.constantFrom(0, 6, 17), dir: fc.constantFrom(0, 1, 2) }),
      fc.record({ k: fc.constant('flush'), backend: num, proto: fc.constantFrom(0, 6, 17, 5) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
      const dps = await Promise.all([createDataplane('wasm', limits), createDataplane('reference', limits)]);
      const said = dps.map((dp) => ops.map((o) => {
        try {
          switch (o.k) {
            case 'node': dp.setNode(o.id, o.addr); return 'ok';
            case 'backend': dp.setBackend(o.id, { addr: o.addr, port: o.port, node: o.node }); return 'ok';
            case 'service': dp.setService(o.index, { algo: o.algo as 'random', backends: o.backends, flags: o.flags, affinityTimeout: o.affinity, maglev: o.algo === 'maglev' ? new Uint16Array(7) : undefined }); return 'ok';
            case 'upsertFrontend': dp.upsertFrontend({ addr: o.addr, port: o.port, proto: o.proto }, o.index); return 'ok';
            case 'deleteFrontend': return String(dp.deleteFrontend({ addr: o.addr, port: o.port, proto: o.proto }));
            case 'upsertIpcache': dp.upsertIpcache(o.addr, o.plen, { identity: o.identity, endpoint: 1, node: 0, flags: 1 }); return 'ok';
            case 'deleteIpcache': return String(dp.deleteIpcache(o.addr, o.plen));
            case 'upsertPolicy': dp.upsertPolicy({ endpoint: o.endpoint, identity: o.identity, port: o.port, proto: o.proto, dir: o.dir }, { rule: 1, verdict: 1 }); return 'ok';
            case 'deletePolicy': return String(dp.deletePolicy({ endpoint: o.endpoint, identity: o.identity, port: o.port, proto: o.proto, dir: o.dir }));
            case 'flush': return String(dp.flushBackend(o.backend, o.proto));
          }
        } catch (e) {
          if (!(e instanceof DpemuError)) throw e;
          return `refused: ${e.message}`;
        }
      }));
      expect(said[0]).toEqual(said[1]);
      // Then the same traffic gives the same bytes.
      const out = dps.map((dp) => {
        const b = dp.allocBatch(8);
        for (let i = 0; i < 8; i++) b.set(i, { saddr: 0x0a000001 + i, daddr: i % 2 ? 0x0a600001 : 0x0a000002, sport: 1000 + i, dport: 80, proto: 6, tcpFlags: 2, node: i % 4 });
        dp.process(b, 8, 1000);
        return Array.from(b.bytes(8));
      });
      expect(out[0]).toEqual(out[1]);
    }), { numRuns: runs });
  });

  it('random JSON lines into trace: error records or records, never an exception; good lines still work', async () => {
    const emu = await shop();
    fc.assert(fc.property(fc.array(fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify({ src: v, dst: '10.96.0.14', sport: 1, dport: 80 })))), (lines) => {
      const out = emu.trace(lines);
      expect(out.length).toBeLessThanOrEqual(lines.length);
      for (const r of out) expect('error' in r || 'verdict' in r || 'applied' in r).toBe(true);
    }), { numRuns: runs });
    expect(emu.trace([GOOD])[0]).toMatchObject({ verdict: 'FORWARDED' });
  });

  it('random manifests into apply: only DpemuErrors escape (file, object, field), and nothing loaded is lost', async () => {
    const emu = await shop();
    const services = emu.services().length;
    const kinds = ['Service', 'Pod', 'Node', 'EndpointSlice', 'Deployment', 'NetworkPolicy', 'Namespace', 'Widget'];
    const obj = fc.record({
      apiVersion: fc.oneof(fc.constantFrom('v1', 'apps/v1', 'discovery.k8s.io/v1', 'networking.k8s.io/v1'), fc.jsonValue()),
      kind: fc.oneof(fc.constantFrom(...kinds), fc.jsonValue()),
      metadata: fc.oneof(fc.record({ name: fc.oneof(fc.string(), fc.jsonValue()), namespace: fc.constantFrom('shop', 'x') }), fc.jsonValue()),
      spec: fc.jsonValue({ maxDepth: 4 }),
    }, { requiredKeys: [] });
    fc.assert(fc.property(fc.array(obj, { maxLength: 4 }), (docs) => {
      try {
        emu.apply(docs as Record<string, unknown>[], { source: 'fuzz.yaml' });
        emu.delete(docs.filter((d) => typeof d.kind === 'string' && typeof (d.metadata as { name?: unknown })?.name === 'string') as never);
      } catch (e) {
        if (!(e instanceof DpemuError)) throw e;
        if (e instanceof ManifestError) expect(e.file).toBe('fuzz.yaml');
      }
    }), { numRuns: runs });
    expect(emu.services().length).toBe(services);
    expect(emu.trace([GOOD])[0]).toMatchObject({ verdict: 'FORWARDED' });
  });
});

describe('the command line, as a Unix tool', () => {
  beforeAll(() => ensureBuilt());
  const many = () => {
    const f = join(dir, 'many.jsonl');
    writeFileSync(f, Array.from({ length: 20000 }, (_, i) => JSON.stringify({ ...JSON.parse(GOOD), sport: 1000 + i })).join('\n'));
    return f;
  };

  it('output piped into head ends quietly', () => {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `node dist/src/cli.js trace --cluster examples/shop --packets ${many()} | head -1`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ line: 1, verdict: 'FORWARDED' });
  });

  it('errors go to stderr with a non-zero exit', () => {
    const r = spawnSync('node', ['dist/src/cli.js', 'trace', '--cluster', join(dir, 'bomb.yaml'), '--packets', '/dev/null'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^dpemu: .*bomb\.yaml: document 1: too many aliases/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    void readFileSync;
  });
});
