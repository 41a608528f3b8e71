// dpemu as a new user gets it: `npm pack`, the tarball installed into an empty project, `import ... from
// "dpemu"` and "dpemu/node" by name in ESM, and a TypeScript consumer typechecked under
// moduleResolution nodenext and bundler (with no Node types: the main entry must not need them).

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../helpers/build.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const run = (cmd: string, args: string[], cwd: string) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, npm_config_yes: 'true' } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  }
};

describe('the packed package', () => {
  let dir = '';
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'dpemu-pack-'));
    // --ignore-scripts: the build is ensureBuilt()'s job (npm pack would run `prepare`, a full rebuild).
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT));
    const app = join(dir, 'app');
    run('mkdir', ['-p', app], dir);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, packed.filename), 'fast-check@4'], app);
  }, 240_000);
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('ships the entries, the core and the docs, and nothing of the tests', () => {
    const pkg = join(dir, 'app', 'node_modules', 'dpemu');
    for (const f of ['dist/src/index.js', 'dist/src/index.node.js', 'dist/src/index.d.ts', 'dist/src/node-api.js', 'build/release.wasm', 'README.md']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    expect(existsSync(join(pkg, 'dist/test'))).toBe(false);
    expect(existsSync(join(pkg, 'test'))).toBe(false);
    const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    expect(meta.sideEffects).toBe(false);
    expect(Object.keys(meta.exports['.'])[0]).toBe('types');
  });

  it('imports by name in ESM and runs a cluster', () => {
    const app = join(dir, 'app');
    writeFileSync(join(app, 'main.mjs'), `
import { createEmulator, restoreEmulator, InputError, VERSION } from 'dpemu';
import { readManifestFiles } from 'dpemu/node';
const emu = await createEmulator({ seed: 2 });
emu.apply(\`apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.50, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
\`);
const [syn, synack] = emu.send([
  { src: '10.244.1.9', dst: '10.96.0.50', sport: 5000, dport: 80, node: 'n1' },
  { src: '10.244.1.5', dst: '10.244.1.9', sport: 8080, dport: 5000, flags: 'SA', node: 'n1' },
]);
const copy = await restoreEmulator(emu.snapshot());
let bad = '';
try { emu.send({ src: 'nope', dst: '10.96.0.50', sport: 1, dport: 80 }); } catch (e) { bad = e instanceof InputError ? e.field : 'other'; }
console.log(JSON.stringify({ VERSION, syn: [syn.verdict, syn.dst, syn.dport], reply: [synack.src, synack.sport], copy: copy.now, bad,
  node: typeof readManifestFiles }));
`);
    const out = JSON.parse(run('node', ['main.mjs'], app));
    expect(out).toEqual({
      VERSION: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
      syn: ['FORWARDED', '10.244.1.5', 8080], reply: ['10.96.0.50', 80], copy: 0, bad: 'packets[0].src', node: 'function',
    });
  });

  it('dpemu/testing runs a property against the installed package (fast-check as its peer)', () => {
    const app = join(dir, 'app');
    writeFileSync(join(app, 'kit.mjs'), `
import fc from 'fast-check';
import { createEmulator } from 'dpemu';
import { properties, arbitraries } from 'dpemu/testing';
await fc.assert(properties.reverseNat(() => createEmulator()), { numRuns: 5 });
console.log(JSON.stringify({ ok: true, cluster: typeof arbitraries.cluster }));
`);
    expect(JSON.parse(run('node', ['kit.mjs'], app))).toEqual({ ok: true, cluster: 'function' });
  });

  for (const [module, resolution] of [['nodenext', 'nodenext'], ['esnext', 'bundler']] as const) {
    it(`typechecks a TypeScript consumer under moduleResolution ${resolution} (no Node types needed)`, () => {
      const app = join(dir, 'app');
      writeFileSync(join(app, 'consumer.ts'), `
import { createEmulator, restoreEmulator, type Emulator, type FlowRecord, type PacketInput, CapacityError, ManifestError } from 'dpemu';
export async function fork(): Promise<[Emulator, Emulator]> {
  const a = await createEmulator({ design: 'ipvs', backend: 'reference', ctLifetimes: { tcp: 100 } });
  const p: PacketInput = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 'UDP' };
  const r: FlowRecord[] = a.send([p]);
  const v: string = r[0].verdict;
  const batch = a.createBatch(16);
  batch.set(0, p);
  a.process(batch, 1);
  const o = batch.get(0).drop_reason;
  void v; void o; void CapacityError; void ManifestError;
  return [a, await restoreEmulator(a.snapshot())];
}
`);
      writeFileSync(join(app, `tsconfig.${resolution}.json`), JSON.stringify({
        compilerOptions: {
          module, moduleResolution: resolution, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false,
          lib: ['ES2022', 'DOM'], types: [],
        },
        files: ['consumer.ts'],
      }));
      run('node', [TSC, '-p', `tsconfig.${resolution}.json`], app);
    });
  }
});
