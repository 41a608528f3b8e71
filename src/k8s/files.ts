// Node-only: read manifest files (or every *.yaml / *.yml / *.json file of a
// directory, in name order) and load them. Kept apart from load.ts so that the
// loader itself stays usable in a browser.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LoadOptions, LoadResult, ManifestFile, loadManifests } from './load.js';

const MANIFEST = /\.(ya?ml|json)$/i;

/** The files behind the given paths: files as they are, directories expanded (recursively, sorted). */
export function readManifestFiles(paths: string[]): ManifestFile[] {
  const out: ManifestFile[] = [];
  const visit = (p: string, top: boolean) => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        const child = join(p, e);
        if (statSync(child).isDirectory() || MANIFEST.test(e)) visit(child, false);
      }
    } else if (top || MANIFEST.test(p)) {
      out.push({ path: p, text: readFileSync(p, 'utf8') });
    }
  };
  for (const p of paths) visit(p, true);
  return out;
}

export function loadFiles(paths: string[], opts: LoadOptions = {}): LoadResult {
  return loadManifests(readManifestFiles(paths), opts);
}
