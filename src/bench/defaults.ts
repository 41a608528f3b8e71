// The benchmarks' default sizes, apart from the benchmarks themselves: the command line shows them in its
// help, and must not load the benchmarks (and the core) to do so.

export type Scenario = 'fastpath' | 'newflow';
export const SCENARIOS: readonly Scenario[] = ['fastpath', 'newflow'];

export const FASTPATH_DEFAULTS = { services: 10_000, backends: 10, flows: 1_000_000, clients: 256, seed: 1 } as const;

/** Default measurement size per backend: the reference is ~2 orders slower, so it measures fewer packets. */
export function fastpathDefaults(backend: 'wasm' | 'reference', scenario: Scenario = 'fastpath'): { rounds: number; packets: number } {
  if (scenario === 'newflow') return backend === 'wasm' ? { rounds: 10, packets: 1 << 17 } : { rounds: 5, packets: 1 << 14 };
  return backend === 'wasm' ? { rounds: 10, packets: 1 << 20 } : { rounds: 7, packets: 1 << 17 };
}

export const CONTROL_PLANE_DEFAULTS = { services: 10_000, endpoints: 100_000, nodes: 100, compiles: 3, changes: 1000 } as const;
