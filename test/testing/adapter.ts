// A stand-in for createEmulator until the library API lands: the five Emulator methods the property kit
// uses (apply, delete, send, advance, counters) over ClusterRuntime, Tracer and createDataplane.
// Not shipped; tests replace it with createEmulator when it is merged.

import { createDataplane } from '../../src/node.js';
import { ClusterRuntime, type ObjectRef } from '../../src/k8s/runtime.js';
import { Tracer } from '../../src/trace.js';
import type { Options, Algorithm } from '../../src/dataplane.js';
import type { Emulator, ManifestInput, PacketInput } from '../../src/api/types.js';
import type { TestedEmulator } from '../../src/testing/index.js';

export interface AdapterOptions extends Options { backend?: 'wasm' | 'reference'; algo?: Algorithm }

const fileOf = (input: ManifestInput, path: string) =>
  typeof input === 'string' ? { path, text: input } : { path, text: (Array.isArray(input) ? input : [input]).map((o) => JSON.stringify(o)).join('\n---\n') };

export async function createTestEmulator(options: AdapterOptions = {}): Promise<TestedEmulator & Pick<Emulator, 'design' | 'backend'>> {
  const { backend = 'wasm', algo, ...dpOptions } = options;
  const dp = await createDataplane(backend, dpOptions);
  const runtime = ClusterRuntime.create(dp, [], { algo });
  const tracer = new Tracer(dp, runtime);
  let now = 0, line = 0, applies = 0;
  return {
    design: dp.options.design, backend,
    apply: (input) => runtime.apply([fileOf(input, `apply-${++applies}.json`)]),
    delete: (refs) => {
      const list = typeof refs === 'string' ? [fileOf(refs, 'delete.yaml')]
        : (Array.isArray(refs) ? refs : [refs]).map((r) => ('kind' in r && 'name' in r && !('metadata' in r) ? r as ObjectRef : fileOf(r, 'delete.json')));
      return runtime.delete(list);
    },
    send: (packets: PacketInput | readonly PacketInput[]) => (Array.isArray(packets) ? packets : [packets]).map((p: PacketInput) => {
      const r = tracer.trace({ ...p, t: p.t ?? now }, ++line);
      if ('error' in r) throw new Error(r.error);
      now = Math.max(now, r.t);
      return r;
    }),
    advance: (seconds: number) => { now += seconds; },
    counters: () => dp.counters(),
  };
}

