// Tests that run the built package (dist/, build/*.wasm) make sure it is fresh: `npm test` builds the core
// (pretest), `npm ci` built dist/ once, and a source edited since would otherwise be tested stale.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listTs(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
}

/** src/**.ts whose dist/src/**.js is missing or older than the source. */
export function staleOutputs(): string[] {
  return listTs(join(ROOT, 'src')).filter((ts) => {
    const js = join(ROOT, 'dist', relative(ROOT, ts)).replace(/\.ts$/, '.js');
    return !existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs;
  });
}

/** Run a command in the repo; its failure message (with output), or undefined if it succeeded. */
export function runInRoot(cmd: string, args: string[]): string | undefined {
  try {
    execFileSync(cmd, args, { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
    return undefined;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return `${cmd} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`;
  }
}

/** Build the core (if missing) and dist/ (if stale). */
export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'build', 'release.wasm'))) {
    const failed = runInRoot('npm', ['run', 'asbuild']);
    if (failed) throw new Error(failed);
  }
  if (staleOutputs().length > 0) {
    // tsc emits even when some file has a type error (that is `npm run typecheck`'s business); what the
    // tests need is fresh JavaScript for every source.
    const failed = runInRoot('npx', ['tsc', '-p', 'tsconfig.build.json']);
    const stale = staleOutputs();
    if (stale.length) throw new Error(`dist/ still stale (${stale.map((f) => relative(ROOT, f)).join(', ')})\n${failed ?? ''}`);
  }
}
