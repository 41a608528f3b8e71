// How far apart the machine's cores are: the round trip of one cache line between this thread and a worker
// thread, each waiting for the other's write (a ping-pong over a SharedArrayBuffer with Atomics).
//
// Why the scaling benchmark asks: with two workers, every packet a worker processes was written by the host on
// another core, and every handed-over hop crosses again, so what two workers gain depends on what a line costs to
// move. On this machine's two vCPUs that cost is not fixed: the hypervisor places them, and the placement
// changes over minutes. Measured here (2026-12-05) at about 170 ns for long stretches and 420-450 ns for others,
// and the fast path's two-worker ratio follows it (README, "Worker threads").

import { Worker } from 'node:worker_threads';
import { median } from './stats.js';

/** Round trips a measurement makes (the first WARM_UP not timed: the worker wakes during them). */
const ROUND_TRIPS = 2000;
const WARM_UP = 500;
/** Bursts a measurement takes the median of. */
const BURSTS = 5;
/** Words: the measurement count (the worker wakes on it), the ball, and stop. */
const GO = 0, BALL = 1, STOP = 2;

const PARTNER = `
const { workerData } = require('node:worker_threads');
const w = new Int32Array(workerData.buffer);
let seen = 0;
for (;;) {
  Atomics.wait(w, ${GO}, seen);
  seen = Atomics.load(w, ${GO});
  if (Atomics.load(w, ${STOP}) !== 0) break;
  for (let i = 0; i < ${ROUND_TRIPS}; i++) {
    let spins = 0;
    while (Atomics.load(w, ${BALL}) !== 2 * i + 1) if (++spins > 1e8) break; // the measurer gave up
    Atomics.store(w, ${BALL}, 2 * i + 2);
  }
}
`;

export interface CoreProbe {
  /** Nanoseconds one line takes to go to the other thread and back (the median of BURSTS bursts' means); NaN if the partner did not answer. */
  roundTripNs(): number;
  close(): Promise<void>;
}

/** Start the partner thread (it sleeps between measurements). */
export async function startCoreProbe(): Promise<CoreProbe> {
  const buffer = new SharedArrayBuffer(4 * 32); // the words on one line of their own, away from anything else
  const w = new Int32Array(buffer);
  const partner = new Worker(PARTNER, { eval: true, workerData: { buffer } });
  await new Promise<void>((resolve, reject) => { partner.once('online', resolve); partner.once('error', reject); });
  partner.unref(); // asleep between measurements: it does not keep the process alive
  const burst = (): number => {
    Atomics.store(w, BALL, 0);
    Atomics.add(w, GO, 1);
    Atomics.notify(w, GO);
    let t0 = 0;
    for (let i = 0; i < ROUND_TRIPS; i++) {
      if (i === WARM_UP) t0 = performance.now();
      Atomics.store(w, BALL, 2 * i + 1);
      for (let spins = 1; Atomics.load(w, BALL) !== 2 * i + 2; spins++) if (spins > 1e8) return NaN; // the partner never answered
    }
    return ((performance.now() - t0) * 1e6) / (ROUND_TRIPS - WARM_UP);
  };
  return {
    roundTripNs(): number {
      const bursts: number[] = [];
      for (let b = 0; b < BURSTS; b++) bursts.push(burst());
      // The median burst: a burst the scheduler interrupted is an outlier, not the placement.
      return bursts.some(Number.isNaN) ? NaN : median(bursts);
    },
    async close() {
      partner.ref();
      Atomics.store(w, STOP, 1);
      Atomics.add(w, GO, 1);
      Atomics.notify(w, GO);
      await new Promise((resolve) => { partner.once('exit', resolve); });
    },
  };
}
