// The Kubernetes kinds dpemu reads, one row each: where each is served (its apiVersion; other versions of
// the same group load with a warning) and whether it is cluster-scoped (metadata.namespace is ignored on
// it, and it is named without one). The loader, the runtime (which keys objects for apply and delete) and
// the API all ask this table, as every client asks apimachinery's RESTMapper.

export interface KindInfo { apiVersion: string; clusterScoped: boolean }

const KIND_ROWS: Readonly<Record<string, KindInfo>> = {
  Namespace: { apiVersion: 'v1', clusterScoped: true },
  Node: { apiVersion: 'v1', clusterScoped: true },
  Pod: { apiVersion: 'v1', clusterScoped: false },
  Service: { apiVersion: 'v1', clusterScoped: false },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', clusterScoped: false },
  Deployment: { apiVersion: 'apps/v1', clusterScoped: false },
  ReplicaSet: { apiVersion: 'apps/v1', clusterScoped: false },
  StatefulSet: { apiVersion: 'apps/v1', clusterScoped: false },
  DaemonSet: { apiVersion: 'apps/v1', clusterScoped: false },
  ReplicationController: { apiVersion: 'v1', clusterScoped: false },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', clusterScoped: false },
  AdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', clusterScoped: true },
  BaselineAdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', clusterScoped: true },
  ClusterNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha2', clusterScoped: true },
  // North-south routing (src/gateway/); v1beta1 of the gateway kinds loads as v1 with a warning.
  GatewayClass: { apiVersion: 'gateway.networking.k8s.io/v1', clusterScoped: true },
  Gateway: { apiVersion: 'gateway.networking.k8s.io/v1', clusterScoped: false },
  HTTPRoute: { apiVersion: 'gateway.networking.k8s.io/v1', clusterScoped: false },
  ReferenceGrant: { apiVersion: 'gateway.networking.k8s.io/v1beta1', clusterScoped: false },
  Ingress: { apiVersion: 'networking.k8s.io/v1', clusterScoped: false },
  IngressClass: { apiVersion: 'networking.k8s.io/v1', clusterScoped: true },
};

/** The table, without a prototype: a kind named "toString" or "constructor" is no row of it. */
export const KINDS: Readonly<Record<string, KindInfo>> = Object.freeze(Object.assign(Object.create(null) as Record<string, KindInfo>, KIND_ROWS));

/** Whether objects of `kind` have no namespace. */
export const isClusterScoped = (kind: string): boolean => KINDS[kind]?.clusterScoped === true;
