// What this machine gives two cores at the moment, measured in the scaling benchmark's own run: a one-worker
// dataplane's fast path while an independent one, in another process, keeps the other core busy with the same work.
// Two such dataplanes together are what two workers could reach at best (the workers also process at the same time,
// and share nothing but the batch); the workers' ratio is judged against that, not against 2x. On this machine's
// two vCPUs it is not 2x: the hypervisor places them, and lends their cores to others.
//
// This module is also the partner: run as a script (child_process.fork), it prepares the scenario it is given, and
// each time the first process asks it keeps its core busy for as long as asked.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prepareScenario, BenchmarkError, type FastpathConfig, type PreparedScenario } from './fastpath.js';

/** The partner's messages: prepared; a busy stretch done (it took `ms`); or what went wrong. */
type FromPartner = { ready: true } | { ms: number } | { error: string };

/** The fastpath scenario measured here while a partner process keeps the other core busy. */
export interface SideBySide {
  rounds: number;
  /** Run round `r` here while the partner processes; returns its milliseconds (process() calls only). */
  round(r: number): Promise<number>;
  /** The result over the given round times: one dataplane's rate with the other core busy. */
  finish: PreparedScenario['finish'];
  /** Rounds that ended after the partner had stopped (its stretch is sized from the last round; none expected). */
  readonly uncovered: number;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
/** How long the partner works before a round starts here (it receives the request, then starts). */
const LEAD_MS = 2;

/** Prepare the fastpath scenario of `cfg` (one worker) here and in a partner process. */
export async function prepareSideBySide(cfg: Omit<FastpathConfig, 'log' | 'workers' | 'scenario'>): Promise<SideBySide> {
  // From source (tests), the partner needs tsx to load this file; from dist, plain node.
  const partner = fork(SELF, [JSON.stringify(cfg)], {
    execArgv: SELF.endsWith('.ts') ? ['--import', 'tsx'] : [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  partner.stderr?.on('data', (d) => { stderr += String(d); });
  const next = () => nextMessage(partner, () => stderr);
  try {
    const [here] = await Promise.all([prepareScenario({ ...cfg, scenario: 'fastpath', workers: 1 }), next()]);
    let stretch = 1000; // ms the partner works a round: the first round's generous, then 1.5x the last round
    let uncovered = 0;
    return {
      rounds: here.rounds,
      get uncovered() { return uncovered; },
      async round(r: number) {
        const done = next();
        partner.send({ busy: stretch });
        await new Promise((resolve) => setTimeout(resolve, LEAD_MS));
        const t0 = performance.now();
        const ms = here.round(r); // synchronous: the partner processes meanwhile
        const wall = performance.now() - t0;
        const theirs = await done;
        if (!('ms' in theirs)) throw new BenchmarkError('the partner process sent no busy stretch');
        if (theirs.ms < wall + LEAD_MS) uncovered++;
        stretch = Math.ceil(1.5 * wall) + 10;
        return ms;
      },
      finish: (ms) => here.finish(ms),
      async close() {
        await here.close();
        partner.kill();
      },
    };
  } catch (e) {
    partner.kill();
    throw e;
  }
}

/** The partner's next message (rejected with its error, or when it exits). */
function nextMessage(partner: ChildProcess, stderr: () => string): Promise<FromPartner> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromPartner) => {
      partner.off('exit', onExit);
      if ('error' in m) reject(new BenchmarkError(`the partner process: ${m.error}`)); else resolve(m);
    };
    const onExit = (code: number | null) => {
      partner.off('message', onMessage);
      reject(new BenchmarkError(`the partner process exited (${code})${stderr() ? `: ${stderr().trim()}` : ''}`));
    };
    partner.once('message', onMessage);
    partner.once('exit', onExit);
  });
}

// The partner: prepare, say so, then work each stretch asked for, until the first process goes away.
if (process.argv[1] === SELF && process.send) {
  const send = (m: FromPartner) => process.send!(m);
  try {
    const scenario = await prepareScenario({ ...JSON.parse(process.argv[2]) as FastpathConfig, scenario: 'fastpath', workers: 1 });
    process.on('message', (m: { busy: number }) => {
      try {
        const t0 = performance.now();
        scenario.keepBusy!(m.busy);
        send({ ms: performance.now() - t0 });
      } catch (e) { send({ error: e instanceof Error ? e.message : String(e) }); }
    });
    process.on('disconnect', () => { void scenario.close().then(() => process.exit(0)); });
    send({ ready: true });
  } catch (e) {
    send({ error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  }
}
