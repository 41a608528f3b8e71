// load.ts must stay usable in a browser: nothing in its import graph names a
// Node built-in. Only files.ts (loadFiles) may.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

describe('the Kubernetes loader is browser-safe', () => {
  it('load.ts reaches no node: module', () => {
    const seen = new Set<string>();
    const bare: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
        else bare.push(spec);
      }
    };
    visit(join(SRC, 'k8s/load.ts'));
    visit(join(SRC, 'k8s/index.ts'));
    expect(bare.filter((s) => s.startsWith('node:') || ['fs', 'path', 'url', 'os'].includes(s))).toEqual([]);
    expect([...new Set(bare)].sort()).toEqual(['js-yaml', 'yaml']); // pure JavaScript parsers, each with a browser build
    expect([...seen].some((f) => f.endsWith('files.ts'))).toBe(false);
  });
});
