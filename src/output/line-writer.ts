// Lines to a Node stream in blocks: `dpemu trace` writes a record per packet, and a write per record is a
// system call per record when stdout is a file (each flattening and encoding a short string on its own).
// Lines are encoded as they come into a block of bytes, which is written when full and at the end of the
// current job (a microtask): one write per chunk of input, and an interactive input still gets each answer
// as soon as its line is traced. The tracer also writes records straight into the block as bytes
// (room(), then putBytes / putAscii / putUint / putString, then endLine()): cached byte pieces copied in,
// no record string made, flattened or encoded.

/** A block's size: big enough for a chunk's records to go in a few writes. */
const BLOCK = 1 << 20;

export interface LineSink {
  write(chunk: Uint8Array): boolean;
}

export class LineWriter {
  /** The block being filled, and how much of it is (the byte writers below advance `used`). */
  block = Buffer.allocUnsafe(BLOCK);
  used = 0;
  private scheduled = false;
  /** What the stream's last write returned: false asks the caller to wait for 'drain'. */
  ready = true;

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
    this.schedule();
    return this.ready;
  };

  /** Make room for a line of up to `bytes` bytes (its newline included) at `used`. */
  room(bytes: number): void {
    if (this.used + bytes <= this.block.length) return;
    this.flush();
    if (bytes > this.block.length) this.block = Buffer.allocUnsafe(bytes); // a line longer than a block: a block of its own
  }

  /** Copy `bytes` in (room made before). */
  putBytes(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n > 24) { this.block.set(bytes, this.used); this.used += n; return; }
    const b = this.block;
    let u = this.used;
    for (let i = 0; i < n; i++) b[u++] = bytes[i];
    this.used = u;
  }

  /** Characters [from, to) of `text`, which are ASCII (room made before). */
  putAscii(text: string, from = 0, to = text.length): void {
    const b = this.block;
    let u = this.used;
    for (let i = from; i < to; i++) b[u++] = text.charCodeAt(i);
    this.used = u;
  }

  /** `n` (a non-negative integer below 2^53) in decimal, as String(n) writes it (room made before: 16 bytes). */
  putUint(n: number): void {
    if (n < 10) { this.block[this.used++] = 48 + n; return; }
    const b = this.block;
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    let u = this.used + digits;
    this.used = u;
    for (let x = n; x > 0; x = Math.floor(x / 10)) b[--u] = 48 + (x % 10);
  }

  /** Any string, encoded as UTF-8 (room made before: 3 bytes per UTF-16 unit). */
  putString(text: string): void {
    this.used += this.block.write(text, this.used, 'utf8');
  }

  /** End the line being written. */
  endLine(): void {
    this.block[this.used++] = 10;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) { this.scheduled = true; queueMicrotask(this.flush); }
  }

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
