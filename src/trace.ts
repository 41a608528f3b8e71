// `dpemu trace` in Node: a tracer over manifest files (createTracer) and the JSON-lines stream
// (traceStream). The tracer itself, which also runs in browsers, is src/tracer.ts.

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Options } from './dataplane.js';
import { createDataplane } from './node.js';
import { ClusterModel } from './k8s/model.js';
import { CompileOptions, compileCluster, limitsForModel } from './k8s/compile.js';
import { LoadOptions, ManifestFile, loadManifests } from './k8s/load.js';
import { ClusterRuntime } from './k8s/runtime.js';
import { readManifestFiles } from './k8s/files.js';
import { Tracer, TracerOptions, TraceOutput, TraceStats, traceTexts, traceTextsJson } from './tracer.js';

export * from './tracer.js';

export interface TraceSetup {
  backend?: 'wasm' | 'reference';
  compile?: CompileOptions;
  /** Dataplane options (seed, lifetimes, ...); limits default to limitsForModel(model, flows). */
  dataplane?: Options;
  /** Live flows to size the dataplane for (default 65536). */
  flows?: number;
  /** Loader options, when the tracer is created from manifest files. */
  load?: LoadOptions;
  /** Directory the paths of control lines are relative to (default: the current directory). */
  cwd?: string;
  /** How control lines read manifest paths (default: readManifestFiles). */
  readFiles?: (paths: string[]) => ManifestFile[];
}

/**
 * A fresh dataplane of the given kind and a tracer over it: compiled once from a model, or, given
 * manifest files, held by a ClusterRuntime so that control lines can apply and delete objects.
 */
export async function createTracer(cluster: ClusterModel | ManifestFile[], setup: TraceSetup = {}): Promise<Tracer> {
  const files = Array.isArray(cluster) ? cluster : undefined;
  const model = files ? loadManifests(files, setup.load).model : (cluster as ClusterModel);
  const dp = await createDataplane(setup.backend ?? 'wasm', { ...limitsForModel(model, setup.flows ?? 65536, setup.compile), ...setup.dataplane });
  const opts: TracerOptions = { cwd: setup.cwd, readFiles: setup.readFiles ?? readManifestFiles };
  if (files) return new Tracer(dp, ClusterRuntime.create(dp, files, { ...setup.compile, load: setup.load }), opts);
  return new Tracer(dp, compileCluster(dp, model, setup.compile), opts);
}

/** Lines taken together at most: a chunk of a file, or what has arrived when the input pauses. */
const LINES_PER_CHUNK = 1024;

/**
 * Trace every line of `input` in order, writing one JSON line per packet, change (control line) or error.
 * Lines are taken in chunks (what one read of the input brought, at most LINES_PER_CHUNK) so that their
 * packets go through the core together; an interactive input still gets each answer as its line arrives.
 */
export function traceStream(input: Readable | AsyncIterable<string>, write: (line: string) => void, tracer: Tracer): Promise<TraceStats> {
  return streamTrace(input, write, (lines, stats) => traceTextsJson(tracer, lines, stats));
}

/**
 * traceStream over any function that traces a chunk of numbered lines into JSON texts, counting what it
 * made (a Tracer's traceTextsJson, or an Emulator's traceJson()).
 */
export async function streamTrace(input: Readable | AsyncIterable<string>, write: (line: string) => boolean | void,
  trace: (lines: { text: string; line: number }[], stats: TraceStats) => string[], drain?: () => Promise<void>,
  /** Whether the output wants a pause, for a `trace` that writes its lines itself (and returns none). */
  paused?: () => boolean): Promise<TraceStats> {
  let n = 0;
  const stats: TraceStats = { packets: 0, errors: 0, changes: 0 };
  let chunk: { text: string; line: number }[] = [];
  /** Whether the output wants a pause (write returned false): the input is paused until it drains. */
  let full = false;
  const flush = () => {
    if (chunk.length === 0) return;
    const lines = chunk;
    chunk = [];
    for (const text of trace(lines, stats)) if (write(text) === false) full = true;
    if (paused?.()) full = true;
  };
  if (!('pipe' in input)) {
    for await (const text of input) {
      chunk.push({ text, line: ++n });
      if (chunk.length >= LINES_PER_CHUNK) flush();
    }
    flush();
    return stats;
  }
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: input as Readable, crlfDelay: Infinity });
    let scheduled = false;
    const run = (f: () => void) => {
      try { f(); } catch (e) { rl.close(); reject(e); return; }
      if (full && drain) { full = false; rl.pause(); drain().then(() => rl.resume(), reject); }
    };
    const later = () => { scheduled = false; run(flush); };
    rl.on('line', (text) => {
      chunk.push({ text, line: ++n });
      if (chunk.length >= LINES_PER_CHUNK) run(flush);
      else if (!scheduled) { scheduled = true; setImmediate(later); }
    });
    rl.on('close', () => { run(flush); resolve(); });
    input.on('error', reject);
  });
  return stats;
}

/** Trace lines given as strings (the same as traceStream, synchronously). */
export function traceLines(tracer: Tracer, lines: string[]): TraceOutput[] {
  return traceTexts(tracer, lines.map((text, i) => ({ text, line: i + 1 })));
}
