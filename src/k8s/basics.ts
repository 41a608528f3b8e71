// The plain vocabulary every model shares (the cluster's, the policy model's, the north-south one): address and
// prefix strings, port protocols, and where an object came from. A leaf module: it imports only the protocol
// table, so the models can name these without importing one another.

import { KUBERNETES_PROTOCOLS, KubernetesProtocol } from '../protocols.js';

export type IP = string;
export type CIDR = string;
/** A Kubernetes port protocol; the list is src/protocols.ts's. */
export type Protocol = KubernetesProtocol;
export const PROTOCOLS: readonly Protocol[] = KUBERNETES_PROTOCOLS;

/** Where an object came from: file, 1-based document index, 0-based List item index. */
export interface SourceRef {
  file: string;
  document: number;
  item?: number;
}

export function formatSource(s: SourceRef): string {
  // Document 0: the file itself (it could not be read as documents).
  return `${s.file}${s.document > 0 ? `: document ${s.document}` : ''}${s.item !== undefined ? `, items[${s.item}]` : ''}`;
}
