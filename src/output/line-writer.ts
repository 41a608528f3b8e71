// Lines to a Node stream in blocks: `dpemu trace` writes a record per packet, and a write per record is a
// system call per record when stdout is a file (each flattening and encoding a short string on its own).
// Lines are encoded as they come into a block of bytes, which is written when full and at the end of the
// current job (a microtask): one write per chunk of input, and an interactive input still gets each answer
// as soon as its line is traced.

/** A block's size: big enough for a chunk's records to go in a few writes. */
const BLOCK = 1 << 20;

export interface LineSink {
  write(chunk: Uint8Array): boolean;
}

export class LineWriter {
  private block = Buffer.allocUnsafe(BLOCK);
  private used = 0;
  private scheduled = false;
  /** What the stream's last write returned: false asks the caller to wait for 'drain'. */
  private ready = true;

  constructor(private readonly out: LineSink) {}

  /** Add `line` and a newline; false when the stream wants the caller to pause (its buffer is full). */
  readonly write = (line: string): boolean => {
    // at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units)
    if (this.used + line.length * 3 + 1 > this.block.length) {
      this.flush();
      if (line.length * 3 + 1 > this.block.length) { // a line longer than a block: on its own
        this.ready = this.out.write(Buffer.from(line + '\n', 'utf8'));
        return this.ready;
      }
    }
    this.used += this.block.write(line, this.used, 'utf8');
    this.block[this.used++] = 10;
    if (!this.scheduled) { this.scheduled = true; queueMicrotask(this.flush); }
    return this.ready;
  };

  /** Write what is held (the stream may still be writing an earlier block: each block is its own buffer). */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.used === 0) return;
    const bytes = this.block.subarray(0, this.used);
    this.block = Buffer.allocUnsafe(BLOCK);
    this.used = 0;
    this.ready = this.out.write(bytes);
  };
}
