// dpemu's library entry for Node (package.json exports "." node): the same API as src/index.ts, with the
// core read from the package's build/release.wasm. Files and folders are read by `dpemu/node`.

import { createEmulatorWith, restoreEmulatorWith } from './api/emulator.js';
import type { Emulator, EmulatorOptions, CoreSource } from './api/types.js';
import { coreModule, createWorkerDataplane } from './node.js';

export * from './api/public.js';

const packageCore = async () => coreModule('release');

/** A new emulator: an empty cluster (or `options.cluster`) on a fresh dataplane. */
export function createEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return createEmulatorWith(packageCore, options, createWorkerDataplane);
}

/** An emulator from snapshot() bytes: it gives the original's records for the same further input. */
export function restoreEmulator(bytes: Uint8Array, options: { wasm?: CoreSource } = {}): Promise<Emulator> {
  return restoreEmulatorWith(packageCore, bytes, options);
}
