// The Kubernetes kinds dpemu reads, one row each: where each is served (its apiVersion; other versions of
// the same group load with a warning) and whether it is cluster-scoped (metadata.namespace is ignored on
// it, and it is named without one). The loader, the runtime (which keys objects for apply and delete) and
// the API all ask this table, as every client asks apimachinery's RESTMapper.

export interface KindInfo { apiVersion: string; clusterScoped: boolean }

export const KINDS: Readonly<Record<string, KindInfo>> = {
  Namespace: { apiVersion: 'v1', clusterScoped: true },
  Node: { apiVersion: 'v1', clusterScoped: true },
  Pod: { apiVersion: 'v1', clusterScoped: false },
  Service: { apiVersion: 'v1', clusterScoped: false },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', clusterScoped: false },
  Deployment: { apiVersion: 'apps/v1', clusterScoped: false },
  ReplicaSet: { apiVersion: 'apps/v1', clusterScoped: false },
  StatefulSet: { apiVersion: 'apps/v1', clusterScoped: false },
  DaemonSet: { apiVersion: 'apps/v1', clusterScoped: false },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', clusterScoped: false },
  AdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', clusterScoped: true },
  BaselineAdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', clusterScoped: true },
  ClusterNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha2', clusterScoped: true },
};

/** Whether objects of `kind` have no namespace. */
export const isClusterScoped = (kind: string): boolean => KINDS[kind]?.clusterScoped === true;
