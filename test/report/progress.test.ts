// The progress bar: nothing on a pipe or a file, nothing for a run shorter than a second, a bar on a
// terminal once the run has lasted longer, cleared at the end.

import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { RunProgress } from '../../src/report/progress.js';

function sink(tty: boolean): Writable & { isTTY?: boolean; columns?: number; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } }) as Writable & { isTTY?: boolean; columns?: number; text: () => string };
  if (tty) { w.isTTY = true; w.columns = 100; }
  w.text = () => chunks.join('');
  return w;
}

function drive(stream: ReturnType<typeof sink>, ms: number): RunProgress {
  let t = 0;
  const p = new RunProgress({ stream, total: 1000, now: () => t });
  for (let i = 0; i <= 10; i++) { t = (ms * i) / 10; p.update(i * 100); }
  p.stop();
  return p;
}

describe('RunProgress', () => {
  it('is silent when stderr is not a terminal, however long the run', () => {
    const s = sink(false);
    const p = drive(s, 60_000);
    expect(p.visible).toBe(false);
    expect(s.text()).toBe('');
  });

  it('is silent for a run shorter than a second, even on a terminal', () => {
    const s = sink(true);
    expect(drive(s, 900).visible).toBe(false);
    expect(s.text()).toBe('');
  });

  it('draws a bar on a terminal once the run has lasted more than a second', () => {
    const s = sink(true);
    const p = drive(s, 5_000);
    expect(p.visible).toBe(true);
    expect(s.text()).toMatch(/\d+% \| [\d,]+\/1,000 packets/);
  });
});
