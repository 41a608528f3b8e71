// `dpemu trace --output hubble`: the trace stream (src/trace.ts streamTrace) with each packet's record
// written as a Hubble flow line. Lines that are not packets have no Hubble form: an error record goes to
// `onError` (the CLI prints it on stderr), a change of the cluster refreshes the converter's directory.

import type { Readable } from 'node:stream';
import type { Emulator, TraceOptions } from '../api/types.js';
import type { TraceError } from '../tracer.js';
import { streamTrace, type TraceStats } from '../trace.js';
import { readManifestFiles } from '../node-api.js';
import { HubbleConverter, type HubbleOptions } from './hubble.js';

export function traceStreamHubble(emu: Emulator, input: Readable | AsyncIterable<string>, write: (line: string) => boolean | void,
  options: TraceOptions & HubbleOptions & { drain?: () => Promise<void>; onError?: (e: TraceError) => void } = {}): Promise<TraceStats> {
  const { drain, onError, epochMs, clusterName, ...rest } = options;
  const readFiles = rest.readFiles ?? readManifestFiles;
  const converter = new HubbleConverter(emu.endpoints(), { epochMs, clusterName });
  return streamTrace(input, write, (lines, stats) => {
    const texts: string[] = [];
    for (const out of emu.trace(lines, { ...rest, readFiles })) {
      if ('verdict' in out) { stats.packets++; texts.push(converter.json(out)); } else if ('error' in out) { stats.errors++; onError?.(out); } else { stats.changes++; converter.update(emu.endpoints()); }
    }
    return texts;
  }, drain);
}
