// dpemu's flow records in the shape `hubble observe -o json` prints, so that tools built for Hubble (jq
// filters, log pipelines, dashboards) read them. The shape is Cilium's flow.Flow message (api/v1/flow/
// flow.proto) as protojson writes it with the proto field names: fields in declaration order, zero values
// left out, enums by name, the timestamp in RFC 3339 with 0, 3, 6 or 9 fractional digits; each line
// {"flow": {...}, "node_name", "time"} as observer.GetFlowsResponse.
//
// One dpemu record is one packet through the whole node pipeline; Hubble reports events at observation
// points. A record becomes the event Hubble would show where the packet's fate is decided:
//   - dropped (or rejected: Cilium drops what kube-proxy rejects): a drop event (event_type 1, sub_type the
//     drop reason's code), on the node the packet entered;
//   - delivered to a pod: a trace event TO_ENDPOINT (event_type 4) on the node of that pod;
//   - anything else forwarded (out of the cluster, to a node): TO_STACK on the node it entered.
// traffic_direction follows Cilium's rule (pkg/hubble/parser/threefour: the event's endpoint is the source
// xor the packet is a reply -> EGRESS, else INGRESS); a policy drop takes the direction of the policy that
// dropped it. Translated addresses follow the parser too: IP.source is the original source and
// IP.source_xlated the address after reverse NAT or masquerade; IP.destination is the backend after DNAT,
// and the Service is named in destination_service (source_service for replies).

import type { EndpointAddress, Emulator } from '../api/types.js';
import type { TraceRecord } from '../tracer.js';

/** Cilium's drop reason codes (bpf/lib/common.h, flow.proto DropReason) by the names dpemu records use. */
export const HUBBLE_DROP_CODES: Record<string, number> = {
  INVALID_SOURCE_IP: 132, POLICY_DENIED: 133, INVALID_PACKET_DROPPED: 134, UNKNOWN_L4_PROTOCOL: 142,
  CT_MAP_INSERTION_FAILED: 155, SERVICE_BACKEND_NOT_FOUND: 158, NO_MAPPING_FOR_NAT_MASQUERADE: 167,
  DENIED_BY_LB_SRC_RANGE_CHECK: 177, POLICY_DENY: 181,
};

/** Cilium's reserved identities (pkg/identity/numericidentity.go). */
const RESERVED = { host: 1, world: 2, remoteNode: 6 } as const;
/** Monitor message types (pkg/monitor/api/types.go) and trace observation points (TraceToLxc = 0, TraceToStack = 3). */
const MESSAGE_DROP = 1, MESSAGE_TRACE = 4, TRACE_TO_STACK = 3;

export interface HubbleEndpoint {
  ID?: number;
  identity: number;
  namespace?: string;
  labels: string[];
  pod_name?: string;
  workloads?: { name: string; kind: string }[];
}

export interface HubblePolicyRef { name: string; namespace?: string; kind: string }

export interface HubbleFlow {
  time: string;
  verdict: 'FORWARDED' | 'DROPPED';
  drop_reason?: number;
  IP: { source: string; source_xlated?: string; destination: string; ipVersion: 'IPv4' };
  l4: { TCP: { source_port: number; destination_port: number; flags?: Record<string, true> } }
    | { UDP: { source_port: number; destination_port: number } }
    | { SCTP: { source_port: number; destination_port: number } }
    | { ICMPv4: Record<string, never> };
  source: HubbleEndpoint;
  destination: HubbleEndpoint;
  Type: 'L3_L4' | 'L7';
  node_name: string;
  l7?: { type: 'RESPONSE'; http: { code: number; method?: string; url: string } };
  reply?: true;
  event_type: { type: number; sub_type?: number };
  source_service?: { name: string; namespace: string };
  destination_service?: { name: string; namespace: string };
  traffic_direction: 'INGRESS' | 'EGRESS';
  trace_observation_point?: 'TO_ENDPOINT' | 'TO_STACK';
  drop_reason_desc?: string;
  is_reply: boolean;
  egress_allowed_by?: HubblePolicyRef[];
  ingress_allowed_by?: HubblePolicyRef[];
  egress_denied_by?: HubblePolicyRef[];
  ingress_denied_by?: HubblePolicyRef[];
  Summary: string;
}

/** One line of `hubble observe -o json`. */
export interface HubbleFlowEvent { flow: HubbleFlow; node_name: string; time: string }

export interface HubbleOptions {
  /** Wall-clock time of virtual time 0, in Unix milliseconds (default 0: the records' virtual seconds since the Unix epoch). */
  epochMs?: number;
  /** The cluster name in the `io.cilium.k8s.policy.cluster` label (Cilium's default: `default`). */
  clusterName?: string;
}

/**
 * Records to Hubble flows, with endpoint names, labels and identities from the cluster (an address ->
 * pod or node directory; update() it after the cluster changes).
 */
export class HubbleConverter {
  private byAddress = new Map<string, EndpointAddress>();
  private readonly labelCache = new Map<EndpointAddress, HubbleEndpoint>();
  private readonly epochMs: number;
  private readonly clusterName: string;

  constructor(endpoints: readonly EndpointAddress[], options: HubbleOptions = {}) {
    this.epochMs = options.epochMs ?? 0;
    this.clusterName = options.clusterName ?? 'default';
    this.update(endpoints);
  }

  /** The cluster's addresses as they are now (emulator.endpoints()). */
  update(endpoints: readonly EndpointAddress[]): void {
    this.byAddress = new Map();
    this.labelCache.clear();
    for (const e of endpoints) if (!this.byAddress.has(e.address)) this.byAddress.set(e.address, e);
  }

  /** The flow event of one record. */
  event(r: TraceRecord): HubbleFlowEvent {
    const flow = this.flow(r);
    return { flow, node_name: flow.node_name, time: flow.time };
  }

  /** One record as the JSON line `hubble observe -o json` prints. */
  json(r: TraceRecord): string {
    return JSON.stringify(this.event(r));
  }

  flow(r: TraceRecord): HubbleFlow {
    const isReply = r.ct_state === 'REPLY';
    const dropped = r.verdict === 'DROPPED' || r.verdict === 'REJECTED';
    const srcPod = this.byAddress.get(r.in.src);
    const dstPod = this.byAddress.get(r.dst);
    const deliveredToPod = !dropped && dstPod?.kind === 'pod';
    const node = deliveredToPod ? r.delivered_node ?? dstPod.node ?? r.node : r.node;

    // The event's endpoint: the destination pod for TO_ENDPOINT, else the source when it is a pod.
    let direction: 'INGRESS' | 'EGRESS';
    const policyDirection = dropped && r.drop_reason?.startsWith('POLICY_DEN') ? /\b(ingress|egress)\b/.exec(r.policy ?? '')?.[1] : undefined;
    if (policyDirection) direction = policyDirection === 'ingress' ? 'INGRESS' : 'EGRESS';
    else {
      const eventAtSource = !deliveredToPod && srcPod?.kind === 'pod';
      direction = eventAtSource !== isReply ? 'EGRESS' : 'INGRESS';
    }

    const flow = {} as HubbleFlow;
    flow.time = this.time(r.t);
    flow.verdict = dropped ? 'DROPPED' : 'FORWARDED';
    const code = dropped ? HUBBLE_DROP_CODES[r.drop_reason ?? ''] : undefined;
    if (code !== undefined) flow.drop_reason = code;
    // source_xlated is declared right after source (protojson keeps declaration order).
    flow.IP = r.src !== r.in.src
      ? { source: r.in.src, source_xlated: r.src, destination: r.dst, ipVersion: 'IPv4' }
      : { source: r.in.src, destination: r.dst, ipVersion: 'IPv4' };
    flow.l4 = l4(r);
    flow.source = this.endpoint(r.in.src, node);
    flow.destination = this.endpoint(r.dst, node);
    flow.Type = r.http ? 'L7' : 'L3_L4';
    flow.node_name = node;
    if (r.http) {
      flow.l7 = { type: 'RESPONSE', http: { code: r.http.status, url: `http://${r.http.request.host}${r.http.request.path}` } };
    }
    if (isReply) flow.reply = true;
    flow.event_type = dropped
      ? { type: MESSAGE_DROP, ...(code !== undefined ? { sub_type: code } : {}) }
      : deliveredToPod ? { type: MESSAGE_TRACE } : { type: MESSAGE_TRACE, sub_type: TRACE_TO_STACK };
    const service = serviceRef(r.service);
    if (service) {
      if (isReply) flow.source_service = service;
      else flow.destination_service = service;
    }
    flow.traffic_direction = direction;
    if (!dropped) flow.trace_observation_point = deliveredToPod ? 'TO_ENDPOINT' : 'TO_STACK';
    if (dropped && r.drop_reason) flow.drop_reason_desc = r.drop_reason;
    flow.is_reply = isReply;
    Object.assign(flow, policyRefs(r.policy));
    flow.Summary = summary(r);
    return flow;
  }

  /** RFC 3339 as protojson writes a Timestamp: UTC, 0, 3, 6 or 9 fractional digits. */
  private time(t: number): string {
    const totalMs = this.epochMs + t * 1000;
    let seconds = Math.floor(totalMs / 1000);
    let nanos = Math.round((totalMs - seconds * 1000) * 1e6);
    if (nanos >= 1e9) { seconds += 1; nanos -= 1e9; }
    const base = new Date(seconds * 1000).toISOString().slice(0, 19);
    if (nanos === 0) return `${base}Z`;
    const digits = nanos % 1e6 === 0 ? 3 : nanos % 1e3 === 0 ? 6 : 9;
    return `${base}.${String(nanos).padStart(9, '0').slice(0, digits)}Z`;
  }

  private endpoint(address: string, observer: string): HubbleEndpoint {
    const e = this.byAddress.get(address);
    if (!e) return { identity: RESERVED.world, labels: ['reserved:world'] };
    if (e.kind === 'node') {
      return e.name === observer ? { identity: RESERVED.host, labels: ['reserved:host'] } : { identity: RESERVED.remoteNode, labels: ['reserved:remote-node'] };
    }
    let ep = this.labelCache.get(e);
    if (!ep) {
      // Cilium's labels of a pod: its own, its namespace and the cluster, with the k8s: source prefix, sorted.
      const labels = [
        ...Object.entries(e.labels).map(([k, v]) => `k8s:${k}=${v}`),
        `k8s:io.cilium.k8s.policy.cluster=${this.clusterName}`,
        `k8s:io.kubernetes.pod.namespace=${e.namespace}`,
      ].sort();
      ep = { ...(e.endpointId ? { ID: e.endpointId } : {}), identity: e.identity, namespace: e.namespace, labels, pod_name: e.name };
      const w = workload(e);
      if (w) ep.workloads = [w];
      this.labelCache.set(e, ep);
    }
    return ep;
  }
}

/** A converter over an emulator's current cluster. */
export function hubbleConverter(emu: Emulator, options: HubbleOptions = {}): HubbleConverter {
  return new HubbleConverter(emu.endpoints(), options);
}

/**
 * The workload Hubble names (Cilium's GetWorkloadMetaFromPod): the owner, and for a ReplicaSet made by a
 * Deployment (its name is the Deployment's plus "-" and the pod-template-hash) the Deployment.
 */
function workload(e: EndpointAddress): { name: string; kind: string } | undefined {
  const o = e.owner;
  if (!o) return undefined;
  const hash = e.labels['pod-template-hash'];
  if (o.kind === 'ReplicaSet' && hash && o.name.endsWith(`-${hash}`)) return { name: o.name.slice(0, -hash.length - 1), kind: 'Deployment' };
  return { name: o.name, kind: o.kind };
}

function l4(r: TraceRecord): HubbleFlow['l4'] {
  const sport = r.in.sport, dport = r.dport;
  switch (r.proto) {
    case 'TCP': {
      const flags: Record<string, true> = {};
      // The descriptor's letters: S SYN, A ACK, F FIN, R RST, P PSH (flow.proto TCPFlags names).
      for (const [letter, name] of TCP_FLAG_NAMES) if (r.flags?.includes(letter)) flags[name] = true;
      return { TCP: { source_port: sport, destination_port: dport, ...(Object.keys(flags).length ? { flags } : {}) } };
    }
    case 'UDP': return { UDP: { source_port: sport, destination_port: dport } };
    case 'SCTP': return { SCTP: { source_port: sport, destination_port: dport } };
    default: return { ICMPv4: {} };
  }
}

/** In TCPFlags declaration order (FIN, SYN, RST, PSH, ACK), which protojson keeps. */
const TCP_FLAG_NAMES: [string, string][] = [['F', 'FIN'], ['S', 'SYN'], ['R', 'RST'], ['P', 'PSH'], ['A', 'ACK']];
/** Hubble's Summary lists the flags in its own order (getTCPFlags: SYN, ACK, RST, FIN, PSH). */
const SUMMARY_FLAG_ORDER: [string, string][] = [['S', 'SYN'], ['A', 'ACK'], ['R', 'RST'], ['F', 'FIN'], ['P', 'PSH']];

function summary(r: TraceRecord): string {
  if (r.http) return `HTTP/1.1 ${r.http.status} ${r.http.request.host}${r.http.request.path}`;
  if (r.proto === 'TCP') return `TCP Flags: ${SUMMARY_FLAG_ORDER.filter(([l]) => r.flags?.includes(l)).map(([, n]) => n).join(', ')}`;
  if (r.proto === 'ICMP') return 'ICMPv4';
  return r.proto;
}

/** "ns/name:port" -> {name, namespace}. */
function serviceRef(label: string | null): { name: string; namespace: string } | undefined {
  if (!label) return undefined;
  const slash = label.indexOf('/'), colon = label.lastIndexOf(':');
  if (slash < 0) return undefined;
  return { name: label.slice(slash + 1, colon > slash ? colon : undefined), namespace: label.slice(0, slash) };
}

const POLICY_REF = /\b(NetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy|ClusterNetworkPolicy) ([^\s;,]+)/;

/**
 * The policies a record's `policy` text names, as Hubble's *_allowed_by / *_denied_by lists: "egress allowed
 * by X; ingress allowed by Y" on an allowed connection, "denied by X <direction> ..." on a rule's deny. (A
 * default deny names no policy in Hubble either.)
 */
function policyRefs(text: string | null): Partial<Pick<HubbleFlow, 'egress_allowed_by' | 'ingress_allowed_by' | 'egress_denied_by' | 'ingress_denied_by'>> {
  if (!text) return {};
  const out: ReturnType<typeof policyRefs> = {};
  for (const part of text.split('; ')) {
    const allowed = /^(ingress|egress) allowed by /.exec(part);
    const denied = /^denied by /.test(part);
    if (!allowed && !denied) continue;
    const m = POLICY_REF.exec(part);
    if (!m) continue;
    const [, kind, ref] = m;
    const slash = kind === 'NetworkPolicy' ? ref.indexOf('/') : -1;
    const policy: HubblePolicyRef = slash >= 0 ? { name: ref.slice(slash + 1), namespace: ref.slice(0, slash), kind } : { name: ref, kind };
    const direction = (allowed ? allowed[1] : /\b(ingress|egress)\b/.exec(part.slice(m.index + m[0].length))?.[1]) as 'ingress' | 'egress' | undefined;
    if (!direction) continue;
    const key: keyof typeof out = `${direction}_${allowed ? 'allowed' : 'denied'}_by`;
    (out[key] ??= []).push(policy);
  }
  return out;
}
