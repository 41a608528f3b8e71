// Where the dpemu package lives (its package.json), from any of its modules, built or run from source.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dpemu package's root directory (the nearest package.json named dpemu above this module). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      try {
        if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'dpemu') return dir;
      } catch { /* keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('package root of dpemu not found');
    dir = up;
  }
}
