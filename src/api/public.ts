// What both entries of the package export besides createEmulator and restoreEmulator: the types, the
// error classes, and the names a user of the zero-copy path needs (descriptor layout and value names).

export type {
  Emulator, EmulatorOptions, EmulatorBatch, BatchOutcome, PacketInput, FlowRecord, ManifestInput, ManifestText, ConntrackEntry,
  ServiceInfo, BackendInfo, CoreSource, Counters, Design, Algorithm, Limits, ApplyReport, ObjectRef, TraceOptions, TraceOutput,
  TraceError, TraceChange, Diagnostic, PolicyRuleInfo, EndpointAddress, EmulatorCapacity,
} from './types.js';
export type { TraceRecord, TraceFrontend, TraceExcluded } from '../tracer.js';
export type { HttpDecision } from '../gateway/router.js';
export type { HealthCheckAnswer } from '../k8s/health-check.js';
export type { SourceRef, DiagnosticCode } from '../k8s/model.js';
export type { PacketBatch, PacketIn, PacketRecord } from '../packet.js';
export { DpemuError, InputError, CapacityError, DataplaneError, SnapshotError, UsageError } from '../errors.js';
export type { DpemuErrorCode } from '../errors.js';
export { ManifestError } from '../k8s/validate.js';
export { DESIGN_NAMES, ALGO, ALGO_NAMES, DEFAULT_LIMITS } from '../dataplane.js';
export { PKT, PROTO, VERDICT_NAMES, DROP_REASON_NAMES, CT_STATE_NAMES } from '../packet.js';
export { VERSION } from '../version.js';
