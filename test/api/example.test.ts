// The README's embedding example runs as it is and says what the README says it does.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ROOT, ensureBuilt } from '../helpers/build.js';

describe('examples/embedding.mjs', () => {
  it('creates, applies, sends a connection, forks and moves time', () => {
    ensureBuilt();
    const out = execFileSync('node', ['examples/embedding.mjs'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/^applied 22 objects, 30 service entries$/m);
    expect(out).toMatch(/^SYN to shop\/web:http went to 10\.244\.\d+\.\d+:8080; the reply came back from 10\.96\.0\.14:80$/m);
    expect(out).toContain("verdicts so far: { FORWARDED: 3, DROPPED: 0, REJECTED: 0 }");
    expect(out).toContain('fork agrees with the original: true');
    expect(out).toContain('live flows after 120 s: 2'); // the established flow, on its node and its backend's
  });
});
