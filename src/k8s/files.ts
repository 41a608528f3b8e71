// Node-only: read manifest files (or every *.yaml / *.yml / *.json file of a directory, in name order;
// sub-folders only when asked, as `kubectl apply -f DIR` reads them only with -R) and load them. Kept apart from load.ts so that the loader itself stays usable in a
// browser.
//
// Only regular files are read, and none larger than MAX_MANIFEST_BYTES: a FIFO named x.yaml would block
// the read forever, and a link to /dev/zero would be read until memory runs out. A folder reached twice
// (a symbolic link loop) is read once. Every refusal is a ManifestError naming the path.

import { readFileSync, readdirSync, statSync, realpathSync, Stats } from 'node:fs';
import { join } from 'node:path';
import { LoadOptions, LoadResult, ManifestFile, loadManifests } from './load.js';
import { ManifestError } from './validate.js';

const MANIFEST = /\.(ya?ml|json)$/i;
/** The largest manifest file read: 64 MiB (a `kubectl get -o json` dump of 10,000 Services is about 25 MB). */
export const MAX_MANIFEST_BYTES = 64 << 20;

/** A path that cannot be read, as a ManifestError naming it. */
function refuse(path: string, why: string): ManifestError {
  return new ManifestError({ file: path, document: 0 }, undefined, undefined, why);
}

function systemError(path: string, e: unknown): ManifestError {
  const err = e as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'permission denied',
    ELOOP: 'too many symbolic links (a link loop)', ENOTDIR: 'not a directory', EISDIR: 'is a directory',
  };
  return refuse(path, err.code && why[err.code] ? why[err.code] : `cannot be read (${err.code ?? err.message})`);
}

function kindOf(st: Stats): string {
  return st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
}

/**
 * The files behind the given paths: files as they are, directories expanded (sorted; their sub-folders too
 * with `recursive`, as kubectl's -R).
 */
export function readManifestFiles(paths: string[], maxBytes = MAX_MANIFEST_BYTES, recursive = false): ManifestFile[] {
  const out: ManifestFile[] = [];
  const seenDirs = new Set<string>();
  const visit = (p: string, top: boolean) => {
    let st: Stats;
    try { st = statSync(p); } catch (e) { throw systemError(p, e); }
    if (st.isDirectory()) {
      let real: string, entries: string[];
      try { real = realpathSync(p); entries = readdirSync(p).sort(); } catch (e) { throw systemError(p, e); }
      if (seenDirs.has(real)) return; // a link back to a folder already read
      seenDirs.add(real);
      for (const e of entries) {
        const child = join(p, e);
        let cst: Stats;
        try { cst = statSync(child); } catch (err) { throw systemError(child, err); }
        if ((cst.isDirectory() && recursive) || (!cst.isDirectory() && MANIFEST.test(e))) visit(child, false);
      }
      return;
    }
    if (!top && !MANIFEST.test(p)) return;
    if (!st.isFile()) throw refuse(p, `${kindOf(st)}, not a manifest file (only regular files are read)`);
    if (st.size > maxBytes) throw refuse(p, `${st.size} bytes, larger than the ${maxBytes} a manifest file may have`);
    let text: string;
    try { text = readFileSync(p, 'utf8'); } catch (e) { throw systemError(p, e); }
    out.push({ path: p, text });
  };
  for (const p of paths) visit(p, true);
  return out;
}

export function loadFiles(paths: string[], opts: LoadOptions = {}, recursive = false): LoadResult {
  return loadManifests(readManifestFiles(paths, MAX_MANIFEST_BYTES, recursive), opts);
}
