// `dpemu trace` writes its records through a LineWriter: lines in blocks of bytes, one write per chunk of
// input, with the stream's wish to pause passed on.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LineWriter } from '../../src/output/line-writer.js';

const sink = (ready: () => boolean = () => true) => {
  const writes: Uint8Array[] = [];
  return { writes, write: (b: Uint8Array) => { writes.push(Uint8Array.from(b)); return ready(); }, text: () => Buffer.concat(writes).toString('utf8') };
};

describe('LineWriter', () => {
  it('writes every line and a newline, in order, whatever the characters and lengths', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant('x'.repeat(400_000)), fc.constant('é'.repeat(200_000))), { maxLength: 30 }), (lines) => {
      const s = sink();
      const w = new LineWriter(s);
      for (const l of lines) w.write(l);
      w.flush();
      expect(s.text()).toBe(lines.map((l) => `${l}\n`).join(''));
    }), { numRuns: 40 });
  });

  it('writes the lines of one job in one write, at the end of the job', async () => {
    const s = sink();
    const w = new LineWriter(s);
    for (let i = 0; i < 1000; i++) w.write(`{"line":${i}}`);
    expect(s.writes.length).toBe(0);
    await Promise.resolve();
    expect(s.writes.length).toBe(1);
    w.write('next');
    await Promise.resolve();
    expect(s.writes.length).toBe(2);
    expect(s.text().split('\n').length).toBe(1002);
  });

  it('answers false once the stream has asked to pause, true again after a write it took', async () => {
    let ready = false;
    const s = sink(() => ready);
    const w = new LineWriter(s);
    expect(w.write('a')).toBe(true);
    await Promise.resolve(); // written: the stream answered false
    expect(w.write('b')).toBe(false);
    ready = true;
    await Promise.resolve();
    expect(w.write('c')).toBe(true);
  });
});
