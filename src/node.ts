// Node-only entry: read the compiled core from disk. The browser path imports
// src/wasm.ts directly and passes the .wasm bytes it fetched.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { WasmDataplane } from './wasm.js';
import { ReferenceDataplane } from './reference/dataplane.js';
import { resolveOptions, type Dataplane, type Options } from './dataplane.js';
import { startWorkers } from './workers.js';

const here = dirname(fileURLToPath(import.meta.url));
/** build/ sits at the package root; this file runs from src/ (tsx) or dist/src/ (built). */
function buildDir(): string {
  for (const up of ['..', '../..']) {
    const d = join(here, up, 'build');
    try { readFileSync(join(d, 'release.wasm'), { flag: 'r' }); return d; } catch { /* next */ }
  }
  throw new Error('build/release.wasm not found: run `npm run asbuild` (npm ci does it)');
}

const modules = new Map<string, WebAssembly.Module>();
export function coreModule(target: 'release' | 'debug' | 'shared' = 'release'): WebAssembly.Module {
  let m = modules.get(target);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(join(buildDir(), `${target}.wasm`)));
    modules.set(target, m);
  }
  return m;
}

export type BackendKind = 'wasm' | 'wasm-debug' | 'reference';

export async function createDataplane(kind: BackendKind, options: Options = {}): Promise<Dataplane> {
  if (kind === 'reference') return new ReferenceDataplane(options);
  return WasmDataplane.create(coreModule(kind === 'wasm-debug' ? 'debug' : 'release'), options);
}

/**
 * A WebAssembly dataplane whose batches `workers` threads share (src/workers.ts), as many as there are shards of
 * per-node state (options.shards) at most; one worker is the ordinary dataplane. Results are the same for any number.
 * `tuning.sharedFrom`: the smallest batch shared (default SHARED_BATCH_MIN; smaller ones the first worker does alone).
 */
export async function createWorkerDataplane(options: Options, workers: number, tuning: { sharedFrom?: number } = {}): Promise<WasmDataplane> {
  const n = Math.min(workers, resolveOptions(options).limits.shards);
  if (n <= 1) return WasmDataplane.create(coreModule('release'), options);
  return WasmDataplane.createShared(coreModule('shared'), coreModule('release'), options,
    (core, module) => startWorkers(core, module, n, tuning.sharedFrom));
}
