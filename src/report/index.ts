// The output side of `dpemu run`, in one import: gather a run's figures (RunCollector), make the report
// (finish + runFinalOf), show it (renderTerminal, renderHtml, or the RunReport itself as JSON), a progress
// bar for long runs, and Hubble-shaped flow lines.

export { RunCollector, runFinalOf } from './collector.js';
export type { DnsLookup, RunFinal } from './collector.js';
export type { RunReport, ServiceDistribution, DnsSummary, TimelinePoint, Tally } from './types.js';
export { renderTerminal, useColor } from './render-terminal.js';
export type { TerminalOptions } from './render-terminal.js';
export { renderHtml } from './render-html.js';
export { RunProgress } from './progress.js';
export type { ProgressOptions } from './progress.js';
export { chiSquareTest, chiSquarePValue } from './chisquare.js';
export { HubbleConverter, hubbleConverter, HUBBLE_DROP_CODES } from '../output/hubble.js';
export type { HubbleFlow, HubbleFlowEvent, HubbleOptions, HubbleEndpoint } from '../output/hubble.js';
export { traceStreamHubble } from '../output/hubble-stream.js';

import type { RunReport } from './types.js';
/** `--json`: the report itself, indented, with a final newline. */
export function renderJson(report: RunReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
