// dpemu/testing runs in browsers too: nothing its entry reaches at run time (type-only imports are erased)
// names a Node built-in, and its only packages are fast-check (the peer dependency) and yaml.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

const runtimeImports = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);

describe('the property kit is browser-safe', () => {
  it('src/testing/index.ts reaches no node: module', () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of runtimeImports(file)) {
        if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
        else bare.add(spec);
      }
    };
    visit(join(SRC, 'testing/index.ts'));
    expect([...bare].sort()).toEqual(['fast-check', 'js-yaml', 'yaml']);
    expect([...seen].some((f) => /trace\.ts$|node\.ts$|files\.ts$/.test(f))).toBe(false);
  });
});
