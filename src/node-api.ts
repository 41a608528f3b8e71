// `dpemu/node`: what only Node can do for the library API — read manifest files and folders from disk.
// (The main entry never names a node: module, so it runs in browsers as it is.)

import type { Emulator, ManifestText, ApplyReport } from './api/types.js';
import { readManifestFiles as readFiles } from './k8s/files.js';

/**
 * The manifest files behind `paths`: files as they are, folders expanded (every *.yaml, *.yml and *.json
 * in name order). Pass them to `emu.applyFiles()`.
 */
export function readManifestFiles(paths: string | readonly string[]): ManifestText[] {
  return readFiles(typeof paths === 'string' ? [paths] : [...paths]).map((f) => ({ path: f.path, text: f.text }));
}

/** Apply the manifests at `paths` (files or folders) in one atomic change. */
export function applyManifests(emu: Emulator, paths: string | readonly string[]): ApplyReport {
  return emu.applyFiles(readManifestFiles(paths));
}
