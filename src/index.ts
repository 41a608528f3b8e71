// dpemu's library entry for browsers and bundlers (package.json exports "." default/browser). The same
// API as the Node entry (src/index.node.ts); here the core is fetched by URL, next to this module in the
// package, unless the caller passes `wasm` (a URL, bytes, a Response or a compiled module).

import { createEmulatorWith, restoreEmulatorWith, compileCore } from './api/emulator.js';
import type { Emulator, EmulatorOptions, CoreSource } from './api/types.js';

export * from './api/public.js';

let core: Promise<WebAssembly.Module> | undefined;
/** The package's own build of the core (build/release.wasm), fetched once. */
const packageCore = () => (core ??= compileCore(new URL('../../build/release.wasm', import.meta.url)));

/** A new emulator: an empty cluster (or `options.cluster`) on a fresh dataplane. */
export function createEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return createEmulatorWith(packageCore, options);
}

/** An emulator from snapshot() bytes: it gives the original's records for the same further input. */
export function restoreEmulator(bytes: Uint8Array, options: { wasm?: CoreSource } = {}): Promise<Emulator> {
  return restoreEmulatorWith(packageCore, bytes, options);
}
