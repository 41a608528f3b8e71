// `bench --compare`: in one process, one after the other (never concurrently):
// (1) the machine's fast-path limit (../shared/limit/run, when present), (2) the
// WASM fast path, (3) the reference fast path; then the ratios against targets.

import { packageRoot } from '../package-root.js';
export { packageRoot };
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFastpath, FastpathConfig, FastpathResult } from './fastpath.js';

/** One JSON line of the limit script. */
export interface LimitLine {
  impl: string; flows: number; warm_pkts: number; warm_slow: number; warm_mpps: number;
  fast_pkts: number; fast_slow: number; fast_mpps: number;
}

export interface LimitResult {
  status: 'ok' | 'absent' | 'failed';
  path: string;
  /** The wasm32 build of limit.c in Node. */
  wasm?: LimitLine;
  /** The native (gcc -O3) build. */
  native?: LimitLine;
  error?: string;
}

export interface Target { name: string; value: number | null; target: number; pass: boolean | null }

export interface CompareResult {
  scenario: 'fastpath';
  compare: true;
  services: number; backends: number; flows: number;
  /** How many interleaved runs of each; the fields below are the median runs. */
  repeats: number;
  runs: { limit_wasm_mpps: number[]; limit_native_mpps: number[]; wasm_mpps: number[]; reference_mpps: number[] };
  limit: LimitResult;
  wasm: FastpathResult;
  reference: FastpathResult;
  /** wasm Mpps / limit wasm32 fast_mpps (target >= 0.60). */
  wasm_vs_limit_wasm: number | null;
  /** wasm Mpps / native limit fast_mpps (informative, no target). */
  wasm_vs_limit_native: number | null;
  /** wasm Mpps / reference Mpps (target >= 25). */
  wasm_vs_reference: number;
  targets: Target[];
  /** Every target with a figure passed (a target without one, e.g. no limit script, does not count). */
  pass: boolean;
}

export const TARGETS = { wasmVsLimitWasm: 0.6, wasmVsReference: 25 } as const;

/** The package root: the nearest directory up from this file with a package.json (src/bench or dist/src/bench). */


/** The machine-limit script: `--limit PATH`, else $DPEMU_LIMIT; without either the comparison is skipped. */
export function defaultLimitPath(): string {
  return process.env.DPEMU_LIMIT ?? '';
}

/** Run `bash <path> <flows>` and parse its JSON lines (native and wasm). */
export function runLimit(path: string, flows: number): LimitResult {
  if (!existsSync(path)) return { status: 'absent', path };
  const r = spawnSync('bash', [path, String(flows)], {
    stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 16 << 20, timeout: 15 * 60 * 1000,
  });
  if (r.error) return { status: 'failed', path, error: r.error.message };
  if (r.status !== 0) {
    return { status: 'failed', path, error: `exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-2000)}` };
  }
  const out: LimitResult = { status: 'ok', path };
  for (const line of r.stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t) as LimitLine;
      if (j.impl === 'wasm') out.wasm = j;
      else if (j.impl === 'native') out.native = j;
    } catch { /* not ours */ }
  }
  if (!out.wasm) return { status: 'failed', path, native: out.native, error: `no "wasm" line in its output: ${r.stdout.trim().slice(-2000)}` };
  return out;
}

const ratio = (a: number, b: number | undefined) => (b && b > 0 ? Math.round((a / b) * 1000) / 1000 : null);

export interface CompareConfig extends Omit<FastpathConfig, 'backend' | 'rounds' | 'packets'> {
  /** Limit script (default: $DPEMU_LIMIT; none: skipped). */
  limitPath?: string;
  /** Rounds for both backends (default: each backend's own). */
  rounds?: number;
  /** Runs of each (limit, wasm, reference), interleaved; the medians are compared (default 3). */
  repeats?: number;
}

/** The run whose `key` is the median of the runs (odd counts: the middle one). */
function medianRun<T>(runs: T[], key: (r: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[(runs.length - 1) >> 1];
}

/**
 * This machine is shared and noisy: a single run of each can be off by a
 * third. So the limit, the wasm core and the reference run `repeats` times,
 * interleaved (limit, wasm, reference, limit, ...), and the ratios compare
 * their median runs.
 */
export async function runCompare(cfg: CompareConfig = {}): Promise<CompareResult> {
  const log = cfg.log ?? (() => {});
  const { limitPath, rounds, repeats = 3, ...rest } = cfg;
  if (!(Number.isInteger(repeats) && repeats >= 1 && repeats <= 99)) throw new RangeError(`repeats: ${repeats} is not in 1..99`);
  const path = limitPath ?? defaultLimitPath();
  const flows = cfg.flows ?? 1_000_000;
  const limits: LimitResult[] = [], wasms: FastpathResult[] = [], refs: FastpathResult[] = [];
  for (let i = 0; i < repeats; i++) {
    log(`run ${i + 1} of ${repeats}: limit ${existsSync(path) ? `(bash ${path} ${flows})` : path ? `(${path} not found, skipped)` : '(no --limit given, skipped)'}, wasm, reference`);
    const limit = runLimit(path, flows);
    if (limit.status === 'failed') log(`limit: failed: ${limit.error}`);
    limits.push(limit);
    wasms.push(await runFastpath({ ...rest, flows, backend: 'wasm', rounds }));
    refs.push(await runFastpath({ ...rest, flows, backend: 'reference', rounds }));
  }
  const okLimits = limits.filter((l) => l.status === 'ok');
  const limit = okLimits.length ? medianRun(okLimits, (l) => l.wasm!.fast_mpps) : limits[0];
  const wasm = medianRun(wasms, (r) => r.mpps);
  const reference = medianRun(refs, (r) => r.mpps);
  const vsLimit = ratio(wasm.mpps, limit.wasm?.fast_mpps);
  const vsRef = ratio(wasm.mpps, reference.mpps) ?? 0;
  const targets: Target[] = [
    { name: 'wasm/limit_wasm', value: vsLimit, target: TARGETS.wasmVsLimitWasm, pass: vsLimit === null ? null : vsLimit >= TARGETS.wasmVsLimitWasm },
    { name: 'wasm/reference', value: vsRef, target: TARGETS.wasmVsReference, pass: vsRef >= TARGETS.wasmVsReference },
  ];
  const nativeMedian = okLimits.filter((l) => l.native).length ? medianRun(okLimits.filter((l) => l.native), (l) => l.native!.fast_mpps).native : undefined;
  return {
    scenario: 'fastpath', compare: true, services: wasm.services, backends: wasm.backends, flows, repeats,
    limit, wasm, reference,
    runs: { limit_wasm_mpps: okLimits.map((l) => l.wasm!.fast_mpps), limit_native_mpps: okLimits.flatMap((l) => l.native ? [l.native.fast_mpps] : []),
      wasm_mpps: wasms.map((r) => r.mpps), reference_mpps: refs.map((r) => r.mpps) },
    wasm_vs_limit_wasm: vsLimit, wasm_vs_limit_native: ratio(wasm.mpps, nativeMedian?.fast_mpps), wasm_vs_reference: vsRef,
    targets, pass: targets.every((t) => t.pass !== false),
  };
}
