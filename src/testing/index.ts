// dpemu/testing: the property-testing kit. `arbitraries` build valid clusters, flows and changes for
// fast-check 4 (a peer dependency of this entry only); `properties.<name>(factory, options?)` are async
// properties that any emulator with apply, delete, send, advance and counters can be held to;
// `evaluatePolicy` is the specification's policy verdict. Browser-safe: no node: modules.
import * as cluster from './cluster.js';
import * as gen from './arbitraries.js';

export { properties, chiSquareCritical } from './properties.js';
export type { EmulatorFactory, PropertyOptions, PropertyStats } from './properties.js';
export { evaluatePolicy } from './policy.js';
export type { PolicyConnection, PolicyDecision } from './policy.js';
export { formatCounterexample, PropertyFailure, Recording } from './report.js';
export type { TestedEmulator } from './report.js';
export { eligibleFor, targetsOf } from './eligibility.js';
export type { Target, FrontendKind } from './eligibility.js';
export type { GenCluster, GenNode, GenPod, GenService, GenServicePort, GenEndpoint, ServiceType } from './cluster.js';
export type { ClusterConstraints, FlowStep, EndpointChange, Connection } from './arbitraries.js';

/** The arbitraries, and the functions that turn what they produce into manifests. */
export const arbitraries = {
  cluster: gen.cluster, policyCluster: gen.policyCluster, connection: gen.connection,
  tcpLifecycle: gen.tcpLifecycle, udpExchange: gen.udpExchange, timeStep: gen.timeStep,
  externalAddress: gen.externalAddress, endpointChange: gen.endpointChange,
  applyEndpointChange: gen.applyEndpointChange,
  manifests: cluster.clusterManifests, serviceManifests: cluster.serviceManifests, sliceManifests: cluster.sliceManifests,
};
