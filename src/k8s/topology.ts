// Topology-aware routing on the kube-proxy side (pkg/proxy/topology.go CategorizeEndpoints and
// topologyModeFromHints, Kubernetes 1.34): among the ready endpoints,
// - PreferSameNode: if every ready endpoint has a node hint (hints.forNodes, which the EndpointSlice
//   controller writes for trafficDistribution: PreferSameNode) and at least one names this node, the
//   node's Cluster-policy endpoints are those hinted for it (feature gate PreferSameTrafficDistribution,
//   on by default since 1.34);
// - else PreferSameZone: if every ready endpoint has a zone hint (hints.forZones) and at least one is
//   for the node's zone, those hinted for the zone;
// - else (or with no ready endpoint) no topology: every usable endpoint.
import type { ProxyEndpoint } from './endpoints.js';

export interface TopologyChoice { eps: ProxyEndpoint[]; topology: boolean; hintedFor?: string }

export function topologyEndpoints(all: ProxyEndpoint[], usable: ProxyEndpoint[], node: string, zone: string | undefined): TopologyChoice {
  const ready = all.filter((e) => e.ready);
  if (ready.length === 0) return { eps: usable, topology: false };
  if (ready.every((e) => (e.hintsForNodes?.length ?? 0) > 0) && ready.some((e) => e.hintsForNodes!.includes(node))) {
    return { eps: ready.filter((e) => e.hintsForNodes!.includes(node)), topology: true, hintedFor: `node ${node}` };
  }
  if (zone !== undefined && ready.every((e) => (e.hintsForZones?.length ?? 0) > 0) && ready.some((e) => e.hintsForZones!.includes(zone))) {
    return { eps: ready.filter((e) => e.hintsForZones!.includes(zone)), topology: true, hintedFor: `zone ${zone}` };
  }
  return { eps: usable, topology: false };
}

/** Whether an endpoint carries any topology hint (zone or node). */
export const hasTopologyHint = (e: { hintsForZones?: string[]; hintsForNodes?: string[] }) =>
  (e.hintsForZones?.length ?? 0) > 0 || (e.hintsForNodes?.length ?? 0) > 0;
