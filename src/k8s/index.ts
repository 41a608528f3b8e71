// Browser-safe entry point of the Kubernetes front half (files.ts, which reads
// from disk, is Node-only and not re-exported here).

export * from './model.js';
export { loadManifests, parseNodePortRange, DEFAULT_SERVICE_CIDR, DEFAULT_NODE_PORT_RANGE, DEFAULT_CLUSTER_CIDR } from './load.js';
export type { LoadOptions, LoadResult, ManifestFile } from './load.js';
export { ManifestError } from './validate.js';
export {
  deriveEndpointSlices, eligibleEndpoints, findPort, selectedPods, selectorMatches, shouldPodBeInEndpoints,
  EXCLUSION_TEXT,
} from './endpoints.js';
export type { EligibleEndpoints, ExclusionReason, ProxyEndpoint } from './endpoints.js';
export { checkCluster, hasErrors } from './check.js';
export type { CheckOptions } from './check.js';
