// `dpemu/node`: what only Node can do for the library API — read manifest files and folders from disk.
// (The main entry never names a node: module, so it runs in browsers as it is.)

import type { Readable } from 'node:stream';
import type { Emulator, ManifestText, ApplyReport, TraceOptions } from './api/types.js';
import { readManifestFiles as readFiles } from './k8s/files.js';
import { streamTrace } from './trace.js';

/**
 * The manifest files behind `paths`: files as they are, folders expanded (every *.yaml, *.yml and *.json
 * in name order; sub-folders too with `{recursive: true}`, as `kubectl apply -R`). Pass them to
 * `emu.applyFiles()`.
 */
export function readManifestFiles(paths: string | readonly string[], options: { recursive?: boolean } = {}): ManifestText[] {
  return readFiles(typeof paths === 'string' ? [paths] : [...paths], undefined, options.recursive ?? false).map((f) => ({ path: f.path, text: f.text }));
}

/** Apply the manifests at `paths` (files or folders) in one atomic change. */
export function applyManifests(emu: Emulator, paths: string | readonly string[]): ApplyReport {
  return emu.applyFiles(readManifestFiles(paths));
}

/**
 * `dpemu trace` over an emulator: JSON lines from `input` (packets and control lines), one JSON line per
 * output to `write`, in order. Lines are taken as they arrive (at most 1,024 at a time), so packets go
 * through the core in batches while an interactive input still gets each answer at once. Control lines
 * read paths relative to `options.cwd` (default: the current directory). When `write` returns false (a
 * stream's buffer is full), the input pauses until `options.drain()` resolves.
 */
export function traceStream(emu: Emulator, input: Readable | AsyncIterable<string>, write: (line: string) => boolean | void,
  options: TraceOptions & { drain?: () => Promise<void> } = {}): Promise<{ packets: number; errors: number; changes: number }> {
  const { drain, ...rest } = options;
  const readFiles = rest.readFiles ?? readManifestFiles;
  return streamTrace(input, write, (lines, stats) => emu.traceJson(lines, { ...rest, readFiles }, stats), drain);
}
