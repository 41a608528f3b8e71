// Compiling a ClusterModel into a Dataplane the way kube-proxy in iptables mode
// programs every node: one dataplane emulates all nodes, so what kube-proxy
// writes differently per node (Local traffic policies, topology hints) becomes
// node-scoped frontend entries (src/dataplane.ts Frontend.scope).
//
// Sources (kubernetes/kubernetes), each rule cites the one it follows:
// - pkg/proxy/iptables/proxier.go   syncProxyRules (chains KUBE-SERVICES, -EXT, -SVC, -SVL, -FW, -SEP)
// - pkg/proxy/topology.go           CategorizeEndpoints, topologyModeFromHints, availableForTopology
// - pkg/proxy/serviceport.go        UsesClusterEndpoints, UsesLocalEndpoints, ExternallyAccessible, newBaseServiceInfo
// - pkg/api/v1/service/util.go      ExternallyAccessible, ExternalPolicyLocal, InternalPolicyLocal
// - pkg/proxy/conntrack/cleanup.go  CleanStaleEntries (UDP flows to endpoints that stopped serving)
// - kubernetes.io/docs: concepts/services-networking/service-traffic-policy, topology-aware-routing,
//   reference/command-line-tools-reference/kube-proxy (--masquerade-all, --cluster-cidr, --nodeport-addresses)
//
// The work is split in two: planCluster() computes, as plain keyed data, what
// every map should hold (it allocates stable ids as it goes); programPlan()
// writes the difference between two plans into a dataplane. compileCluster()
// is both, from nothing; the runtime (runtime.ts) keeps the last plan and
// applies only what changed. The jobs live in their own modules, re-exported here:
// - plan.ts          the options and the plan's types
// - ids.ts           stable id assignment (Allocations) and the plan's backend table
// - plan-cluster.ts  planCluster: nodes, the ipcache, every service port
// - plan-service.ts  one service port: its cluster IP, then its external destinations
// - replan.ts        one service's endpoints replanned in place
// - program.ts       writing a plan (full or one service's delta) into a dataplane
// - compiled.ts      CompiledCluster, the lookups that explain a packet

import { Dataplane, DEFAULT_LIMITS, Limits } from '../dataplane.js';
import { ClusterModel } from './model.js';
import { Allocations } from './ids.js';
import { CompileOptions, resolveCompileOptions } from './plan.js';
import { planCluster } from './plan-cluster.js';
import { programPlan } from './program.js';
import { CompiledCluster } from './compiled.js';

export * from './plan.js';
export { Allocations, BackendMap } from './ids.js';
export { planCluster } from './plan-cluster.js';
export { replanServiceEndpoints, undoEndpointsDelta } from './replan.js';
export type { EndpointsDelta } from './replan.js';
export { checkCapacity, programPlan, programEndpointsDelta } from './program.js';
export type { ProgramReport } from './program.js';
export { CompiledCluster } from './compiled.js';

/** Compile `model` into `dp` (which should be fresh) as kube-proxy would program every node. */
export function compileCluster(dp: Dataplane, model: ClusterModel, opts: CompileOptions = {}): CompiledCluster {
  const alloc = new Allocations();
  const plan = planCluster(model, resolveCompileOptions(model, opts, dp.options.design), alloc, dp.options.limits.maxServices);
  programPlan(dp, plan, undefined, alloc);
  return new CompiledCluster(model, plan, alloc);
}

/**
 * Dataplane limits that fit `model` compiled with `opts` and `flows` live flows, with room to
 * grow (twice what the model needs now, for runtime apply).
 */
export function limitsForModel(model: ClusterModel, flows: number, opts: CompileOptions = {}): Limits {
  const plan = planCluster(model, resolveCompileOptions(model, opts));
  let slots = 0, cells = 0, ranges = 0, affinity = 0;
  for (const s of plan.services.values()) {
    slots += s.backends.length;
    if (plan.options.algo === 'maglev') cells += s.maglevM;
    ranges += s.sourceRanges.length;
    if (s.affinityTimeout > 0) affinity++;
  }
  const room = (n: number, min: number) => Math.max(min, 2 * n);
  const clients = model.pods.length + model.nodes.length + 64;
  // Every node's state is in one of `shards` sets of tables (Limits.shards), which worker threads share out: two
  // for a cluster of several nodes (two workers; more take a larger `shards`, the same for every run compared),
  // each with half the capacity. (Each with all of it measured 50% slower on `dpemu run`: the conntrack GC, every
  // millisecond of virtual time, walks every slot.)
  const shards = model.nodes.length > 1 ? 2 : 1;
  return {
    ...DEFAULT_LIMITS,
    shards,
    // Conntrack is per node: a flow to a pod on another node holds an entry on each of the two nodes.
    maxFlows: Math.max(1024, Math.ceil(flows * 1.25 * (model.nodes.length > 1 ? 2 : 1))),
    maxServices: room(plan.services.size, 16),
    maxFrontends: room(plan.frontends.size + ranges, 64),
    maxBackends: room(plan.backends.size, 16),
    maxSlots: room(slots, 64),
    maxMaglevCells: room(cells, 1),
    // ClientIP affinity keeps one entry per (client, service entry).
    maxAffinity: Math.max(1024, Math.min(Math.ceil(flows * 1.25), clients * affinity)),
    maxIpcache: room(plan.ipcache.size, 64),
    maxPolicy: room(plan.policy?.entries.size ?? 0, 1024),
    maxNodes: Math.min(0xffff, room(model.nodes.length, 4)),
  };
}
