// Worker threads sharing a dataplane's batches (Node only: worker_threads). The dataplane's own instance of the
// shared-memory core (build/shared.wasm) writes the maps, once, in the shared memory; each worker thread runs
// another instance of the same core on that memory. A batch is shared by shards (assembly/pipeline.ts
// processShare): every instance makes the hops of the nodes in the shards it owns, run by run, each part of a run's
// second hops once the others have published their hand-over lists of it, so the packets crossing to another
// worker's node are handed over through the batch itself. Results are byte-identical to one worker (test/workers.test.ts).
//
// Each call of process() with a batch of SHARED_BATCH_MIN packets or more: this thread reserves room for the
// batch's plan, writes its instance's globals (the maps' addresses, the knobs, the policy revision: whatever the
// control plane changed) into the shared memory and wakes the workers, which copy them into their instances and
// re-attach their own scratch buffers (workerAttach); then every instance plans its chunks of the batch and
// processes its share. Between batches the workers keep looking for the next one a while (IDLE_SPIN_*), then sleep
// on the command word (Atomics.wait).

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { BatchSharing, CoreExports } from './wasm.js';
import { DataplaneError } from './dataplane.js';

/** Command block (i32 words). */
const SEQ = 0, DONE = 1, BATCH = 2, COUNT = 3, NOW = 4, BLOCK = 5, STOP = 6, RESULT = 8; // RESULT + worker
const CONTROL_WORDS = 8 + 64;
/**
 * Each worker's own scratch buffers and counters (assembly/index.ts workerAttach): about 120 KiB used (the planner's
 * endpoint table 64 KiB, the stage 32 KiB).
 */
const REGION_BYTES = 256 * 1024;
const SHARE_BROKEN = 0x80000000;
/**
 * Batches smaller than this are processed by the dataplane's own instance alone (the same plan and order, so the
 * same results): waking the others and copying the globals costs more than their share of a small batch (`dpemu
 * run` hands the core about 50 packets a virtual millisecond, `trace` the packets of one time).
 */
export const SHARED_BATCH_MIN = 512;
/** The workers' block's words the host writes (assembly/pipeline.ts draws the block, above awaitPublished). */
const B_SERIAL = 1, B_PLAN_CLAIMS = 2, B_SPIN_BUDGET = 3, BLOCK_WORDS = 4;
/**
 * How many times a worker looks at a stamp before it sleeps (B_SPIN_BUDGET): a sleeping worker takes tens of
 * microseconds to wake on this machine's virtual CPUs (measured, at the run barrier of an earlier build: with the
 * short budget, one wait in two ended asleep and the waits took up to a quarter of the batch; with the long one,
 * one in two thousand), so when every worker has a core of its own they look for a few milliseconds; when they
 * share cores, briefly, so that a waiting worker gives its core to the one it waits for.
 */
const SPIN_OWN_CORE = 1 << 22, SPIN_SHARED_CORE = 1 << 16;
/**
 * How long a worker keeps looking for the next batch after one before it sleeps (ms). Woken from its sleep, a worker
 * started on a batch 150 us (median; 190 us p90) after the host asked, against a batch's 4 ms (65,536 packets on two
 * workers): the host planned alone meanwhile, and the batch ended that much later on the other worker. A host filling
 * the next batch takes about 3 ms for 65,536 packets (`bench --scaling`), so a worker with a core of its own looks for
 * 5 ms, and its wake-up is a microsecond (measured: docs/design/per-node-and-workers.md, "Fourth pass"); with cores
 * shared, it sleeps almost at once, leaving the core to the others.
 */
const IDLE_SPIN_OWN_CORE_MS = 5, IDLE_SPIN_SHARED_CORE_MS = 0.05;
/** How long a batch may take before the workers are declared gone. */
const TIMEOUT_MS = 120_000;

// The worker thread: plain JavaScript (it runs from source under tsx and from dist alike).
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, control, globals, self, workers, region, regionBytes, idleSpinMs } = workerData;
const core = new WebAssembly.Instance(module, { env: { memory } }).exports;
const state = [];
for (let i = 0; core['state$' + i] instanceof WebAssembly.Global; i++) state.push(core['state$' + i]);
const isBig = state.map((g) => typeof g.value === 'bigint');
const w = new Int32Array(memory.buffer, control, ${CONTROL_WORDS});
const f64 = new Float64Array(memory.buffer, globals, state.length);
const i64 = new BigInt64Array(memory.buffer, globals, state.length);
parentPort.postMessage({ ready: true, globals: state.length });
let seen = 0;
for (;;) {
  const until = performance.now() + idleSpinMs; // then asleep until the next batch
  for (let spin = 0; Atomics.load(w, ${SEQ}) === seen; spin++) {
    if ((spin & 1023) === 1023 && performance.now() > until) Atomics.wait(w, ${SEQ}, seen, 100);
  }
  seen = Atomics.load(w, ${SEQ});
  if (Atomics.load(w, ${STOP}) !== 0) break;
  for (let i = 0; i < state.length; i++) state[i].value = isBig[i] ? i64[i] : f64[i];
  let r = ${SHARE_BROKEN};
  try {
    if (core.workerAttach(region, regionBytes) === 0) {
      r = core.processShare(w[${BATCH}], w[${COUNT}], w[${NOW}], self, workers, w[${BLOCK}]);
    }
  } catch { r = ${SHARE_BROKEN}; } // reported by the dataplane's thread, which is waiting for this one
  Atomics.store(w, ${RESULT} + self, r);
  Atomics.add(w, ${DONE}, 1);
  Atomics.notify(w, ${DONE});
}
`;

class WorkerPool implements BatchSharing {
  private readonly control: Int32Array;
  private readonly state: WebAssembly.Global[];
  private readonly f64: Float64Array;
  private readonly i64: BigInt64Array;
  /** The workers' block (B_*). */
  private readonly blockWords: Int32Array;

  /** Batches shared with the other workers so far (smaller ones are processed here alone). */
  shared = 0;

  constructor(private readonly core: CoreExports, readonly workers: number, private readonly threads: Worker[],
    controlAt: number, globalsAt: number, private readonly regions: number[], private readonly block: number,
    private readonly sharedFrom: number) {
    this.control = new Int32Array(core.memory.buffer, controlAt, CONTROL_WORDS);
    this.state = stateGlobals(core);
    this.f64 = new Float64Array(core.memory.buffer, globalsAt, this.state.length);
    this.i64 = new BigInt64Array(core.memory.buffer, globalsAt, this.state.length);
    this.blockWords = new Int32Array(core.memory.buffer, block, BLOCK_WORDS);
  }

  process(batch: number, n: number, now: number): number {
    if (n < this.sharedFrom) return this.core.process(batch, n, now) >>> 0;
    this.shared++;
    const w = this.control;
    // Room for the plan (runs, the shard of each packet), which the workers make together: its addresses are globals.
    if (this.core.planRoom(n) !== 0) throw new DataplaneError(`a batch of ${n} packets: no memory left for its plan`);
    this.state.forEach((g, i) => { if (typeof g.value === 'bigint') this.i64[i] = g.value; else this.f64[i] = g.value as number; });
    w[BATCH] = batch; w[COUNT] = n; w[NOW] = now; w[BLOCK] = this.block;
    Atomics.store(w, DONE, 0);
    Atomics.add(this.blockWords, B_SERIAL, 1); // a new batch serial: the plans and hand-over lists of this batch carry it
    Atomics.store(this.blockWords, B_PLAN_CLAIMS, 0); // no chunk of its plan claimed yet
    Atomics.add(w, SEQ, 1);
    Atomics.notify(w, SEQ);
    let forwarded = this.core.processShare(batch, n, now, 0, this.workers, this.block) >>> 0;
    const others = this.workers - 1;
    const started = Date.now();
    for (let spin = 0; Atomics.load(w, DONE) < others; spin++) {
      if (spin < 100000) continue;
      const done = Atomics.load(w, DONE);
      if (done < others) Atomics.wait(w, DONE, done, 100);
      if (Date.now() - started > TIMEOUT_MS) throw new DataplaneError('a worker thread stopped answering');
    }
    let broken = forwarded === SHARE_BROKEN;
    for (let k = 1; k < this.workers; k++) {
      const r = Atomics.load(w, RESULT + k) >>> 0;
      if (r === SHARE_BROKEN) broken = true;
      forwarded = (forwarded + r) >>> 0;
    }
    if (broken) throw new DataplaneError('a worker thread stopped answering (a batch was left half done)');
    return forwarded;
  }

  counterBases(): number[] { return this.regions.map((r) => (r + 63) & ~63); } // countersInit: the region's first 64-byte line

  async close(): Promise<void> {
    for (const t of this.threads) t.ref(); // until they have exited: the caller awaits it
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
    await Promise.all(this.threads.map((t) => new Promise((resolve) => { t.once('exit', resolve); })));
  }
}

function stateGlobals(core: CoreExports): WebAssembly.Global[] {
  const ex = core as unknown as Record<string, unknown>;
  const out: WebAssembly.Global[] = [];
  for (let i = 0; ex[`state$${i}`] instanceof WebAssembly.Global; i++) out.push(ex[`state$${i}`] as WebAssembly.Global);
  return out;
}

/**
 * Start `workers - 1` threads sharing `core`'s batches (the dataplane's own instance is the first worker). `module`:
 * the shared-memory build `core` runs; batches of fewer than `sharedFrom` packets are processed here alone.
 */
export async function startWorkers(core: CoreExports, module: WebAssembly.Module, workers: number,
  sharedFrom = SHARED_BATCH_MIN): Promise<BatchSharing> {
  const alloc = (bytes: number, what: string) => {
    const at = core.scratchAlloc(bytes) >>> 0;
    if (at === 0) throw new DataplaneError(`workers: no memory left for ${what}`);
    return at;
  };
  const globalsCount = stateGlobals(core).length;
  const control = alloc(CONTROL_WORDS * 4, 'the command block');
  const globals = alloc(globalsCount * 8, 'the globals');
  const block = (alloc(128, "the workers' block") + 63) & ~63; // a line of its own
  const ownCores = workers <= availableParallelism();
  new Int32Array(core.memory.buffer, block, BLOCK_WORDS)[B_SPIN_BUDGET] = ownCores ? SPIN_OWN_CORE : SPIN_SHARED_CORE;
  const idleSpinMs = ownCores ? IDLE_SPIN_OWN_CORE_MS : IDLE_SPIN_SHARED_CORE_MS;
  const regions = Array.from({ length: workers - 1 }, () => alloc(REGION_BYTES, "a worker's buffers"));
  const threads: Worker[] = [];
  try {
    for (let k = 1; k < workers; k++) {
      const t = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, memory: core.memory, control, globals, self: k, workers, region: regions[k - 1], regionBytes: REGION_BYTES, idleSpinMs },
      });
      threads.push(t);
      await new Promise<void>((resolve, reject) => {
        t.once('message', () => resolve());
        t.once('error', reject);
        t.once('exit', (code) => reject(new DataplaneError(`worker ${k} exited (${code}) while starting`)));
      });
      t.unref(); // an idle pool does not keep the process alive
    }
  } catch (e) {
    await Promise.all(threads.map((t) => t.terminate()));
    throw e;
  }
  return new WorkerPool(core, workers, threads, control, globals, regions, block, sharedFrom);
}
