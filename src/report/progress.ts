// A progress bar on stderr for `dpemu run` (cli-progress): shown only when the run has lasted more than a
// second (short runs print nothing but their result) and only on a terminal (a pipe or a file gets
// nothing: no control characters in logs).

import cliProgress from 'cli-progress';

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** The amount of work: packets, or virtual seconds (the caller's unit). */
  total: number;
  /** What the unit is called in the bar (default "packets"). */
  unit?: string;
  /** Milliseconds before the bar appears (default 1000). */
  delayMs?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

export class RunProgress {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly started: number;
  private readonly delayMs: number;
  private readonly now: () => number;
  private bar: cliProgress.SingleBar | undefined;
  private done = false;
  private total: number;
  private readonly unit: string;

  constructor(options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.delayMs = options.delayMs ?? 1000;
    this.total = options.total;
    this.unit = options.unit ?? 'packets';
  }

  /** Whether the bar is drawn (the run has lasted long enough, on a terminal). */
  get visible(): boolean { return this.bar !== undefined; }

  /** The work done so far (cheap to call once per batch: it draws at most every 100 ms). */
  update(value: number, total?: number): void {
    if (this.done) return;
    if (total !== undefined) this.total = total;
    if (!this.bar) {
      if (this.stream.isTTY !== true || this.now() - this.started < this.delayMs) return;
      this.bar = new cliProgress.SingleBar({
        stream: this.stream as NodeJS.WritableStream, hideCursor: true, clearOnComplete: true, barsize: 30, fps: 10,
        format: `{bar} {percentage}% | {value}/{total} ${this.unit} | {rate}/s | ETA {eta_formatted}`,
        formatValue: (v: number, _o: unknown, type: string) => (type === 'value' || type === 'total' ? Math.round(v).toLocaleString('en-US') : String(v)),
      }, cliProgress.Presets.shades_classic);
      this.bar.start(this.total, value, { rate: this.rate(value) });
      return;
    }
    if (total !== undefined) this.bar.setTotal(total);
    this.bar.update(value, { rate: this.rate(value) });
  }

  private rate(value: number): string {
    const s = (this.now() - this.started) / 1000;
    return s > 0 ? Math.round(value / s).toLocaleString('en-US') : '-';
  }

  /** The run is over: the bar goes away (cleared), leaving the terminal as it was. */
  stop(): void {
    this.done = true;
    this.bar?.stop();
  }
}
