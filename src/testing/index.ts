// `dpemu/testing`: a property-testing kit for DNAT correctness (fast-check 4, a peer dependency of this
// entry only). Run the properties against dpemu, or against your own dataplane wrapped to look like one:
//
//   import fc from 'fast-check';
//   import { createEmulator } from 'dpemu';
//   import { properties } from 'dpemu/testing';
//   await fc.assert(properties.reverseNat(() => createEmulator()), { numRuns: 200 });

import * as properties from './properties.js';
import { cluster, manifests, expectedEndpoints, POD_PORT } from './cluster.js';

export { properties };
/** The generators the properties use, for properties of your own. */
export const arbitraries = { cluster };
export { manifests, expectedEndpoints, POD_PORT };
export { evaluatePolicy } from './policy.js';
export type { PolicyVerdict } from './policy.js';
export type { KitCluster, KitNode, KitPod, KitService, KitPolicy, KitProtocol, ClusterShape } from './cluster.js';
export type { EmulatorUnderTest, EmulatorFactory, PropertyOptions } from './properties.js';
export { PropertyFailure, formatCase } from './report.js';
