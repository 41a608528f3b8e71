// The public types of dpemu's library API (`import { createEmulator } from "dpemu"`). Implemented by
// src/api/emulator.ts; everything here is plain data so that it reads the same in Node and in a browser.

import type { Counters, Design, Algorithm, Limits } from '../dataplane.js';
import type { TraceRecord } from '../tracer.js';
import type { ApplyReport, ObjectRef } from '../k8s/runtime.js';
import type { PacketBatch } from '../packet.js';
import type { TraceOutput, TraceError, TraceChange } from '../tracer.js';
import type { Diagnostic } from '../k8s/model.js';

export type { Counters, Design, Algorithm, Limits, ApplyReport, ObjectRef, TraceOutput, TraceError, TraceChange, Diagnostic };

/** Where the WebAssembly core comes from: bytes, a compiled module, a fetch Response, or a URL to fetch. */
export type CoreSource = URL | string | Response | ArrayBuffer | ArrayBufferView | WebAssembly.Module;

/**
 * Options of createEmulator. Every knob has its upstream default; capacities are fixed at creation,
 * as BPF maps are (an apply that would overfill a map throws CapacityError and changes nothing).
 */
export interface EmulatorOptions {
  /** Dataplane design: `ebpf` (default, Cilium-style hash maps), `iptables`, `ipvs`, `nftables`. */
  design?: Design;
  /** Which implementation runs the packets: `wasm` (default, the fast core) or `reference` (the plain oracle). */
  backend?: 'wasm' | 'reference';
  /**
   * The compiled core. Default: in Node, read from the package (build/release.wasm); in a browser,
   * fetched from the package's URL next to the module (`new URL("../../build/release.wasm", import.meta.url)`).
   */
  wasm?: CoreSource;
  /** Seed of the random endpoint choice (default 1). Same seed and inputs: same records, byte for byte. */
  seed?: number;
  /** Seed of the flow hash: Maglev cell, source hash, NAT port start (default 0x5eed). */
  hashSeed?: number;
  /** Endpoint selection for every service (default: the design's own; ebpf/iptables/nftables random, ipvs rr). */
  algo?: Algorithm;
  /**
   * Maglev table size M for every service (one of Cilium's primes, e.g. 16381, Cilium's default). Default:
   * per service the smallest M > 100 x its endpoints (Cilium's requirement), kept when endpoints go away;
   * small tables move more of the other backends' flows when one is removed.
   */
  maglevTableSize?: number;
  /**
   * Live flows the conntrack table is sized for (default 65536); with a cluster of more than one node, twice as
   * many entries, as a flow to another node's pod is tracked on both nodes.
   */
  flows?: number;
  /**
   * Worker threads sharing the packet work (Node only; default 1): nodes are spread over them by shard of per-node
   * state (`limits.shards`, raised to a power of two of at least `workers`; a cluster of several nodes given as
   * `cluster` has 2), the maps are shared, and the records are byte-identical to one worker's for the same input.
   * Not with the reference backend; snapshots are taken with one worker. Between batches a worker with a core of
   * its own busy-waits up to 5 ms for the next one before it sleeps. Call close() when done.
   */
  workers?: number;
  /** Map capacities (defaults: DEFAULT_LIMITS, raised to fit `cluster` when one is given). */
  limits?: Partial<Limits>;
  /**
   * Manifests to load at creation (YAML/JSON text, objects, or `{files: [{path, text}]}` as `dpemu/node`'s
   * readManifestFiles reads them); the maps are sized for them.
   */
  cluster?: ManifestInput | { files: readonly ManifestText[] };
  /** Conntrack lifetimes in seconds (Cilium: TCP 21600, SYN 60, close 10, non-TCP 60). */
  ctLifetimes?: Partial<{ tcp: number; syn: number; close: number; nonTcp: number }>;
  /** Masquerade source ports (Linux ip_local_port_range 32768-60999; 32 candidates tried). */
  natPorts?: Partial<{ min: number; max: number; tries: number }>;
  /** kube-proxy --masquerade-all (default false). */
  masqueradeAll?: boolean;
  /** kube-apiserver --service-cluster-ip-range (default 10.96.0.0/12). */
  serviceCIDR?: string;
  /** kube-controller-manager --cluster-cidr (default 10.244.0.0/16). */
  clusterCIDR?: string;
  /**
   * Nodes of the default cluster that stands in when the manifests have no Node objects (as kind or minikube
   * supply nodes for an application's manifests): node-1 ... node-N over three zones (default 3; 0: none,
   * pods then stay Pending). A dump whose pods or EndpointSlices name nodes gets exactly those nodes.
   */
  defaultNodes?: number;
  /** Addresses for LoadBalancer Services without status.loadBalancer.ingress, as MetalLB would give them (IPv4 CIDR, default 172.18.255.0/24; 'none'). */
  lbPool?: string;
  /** kube-apiserver --service-node-port-range (default 30000-32767). */
  nodePortRange?: [number, number] | string;
  /**
   * kube-proxy --nodeport-addresses (default as kube-proxy's: every address of the node, or its primary
   * address (InternalIP) in the nftables design).
   */
  nodePortAddresses?: string[];
  /** kube-proxy localhostNodePorts: NodePorts also answer on 127.0.0.1 in the iptables design (default true). */
  localhostNodePorts?: boolean;
  /**
   * What shares a client's ClientIP affinity: every frontend of a service port ('service-port', kube-proxy;
   * the iptables and nftables designs' default) or each dataplane entry ('entry'; ebpf and ipvs).
   */
  affinityScope?: 'service-port' | 'entry';
  /** Established flows are judged again after a policy change (Cilium: true). */
  policyRecheckEstablished?: boolean;
  /** A pod's traffic to itself skips policy (default true, as Cilium). */
  policyAllowSelf?: boolean;
  /** Egress from a pod to its own node skips egress policy (default false: Cilium enforces it). */
  policyEgressToOwnNode?: boolean;
  /** An ipBlock matches pod addresses too (default true, as the upstream e2e suite expects). */
  ipBlockMatchesPods?: boolean;
}

/** Kubernetes objects: YAML or JSON text (multi-document, `kubectl get -o json` Lists), or parsed objects. */
export type ManifestInput = string | Record<string, unknown> | readonly Record<string, unknown>[];

/** How trace() reads the paths of control lines. */
export interface TraceOptions {
  /** Read manifest files (and folders) behind paths. */
  readFiles?: (paths: string[]) => readonly ManifestText[];
  /** Directory relative paths start from. */
  cwd?: string;
}

/** A manifest file's name and text. */
export interface ManifestText { path: string; text: string }

/** A packet, as `dpemu trace` reads it. */
export interface PacketInput {
  /** Source IPv4 address, or a pod by name: `pod/ns/name`, or a workload's first running pod: `deploy/ns/name` (sts, ds, rs, rc). */
  src: string;
  /**
   * Destination IPv4 address, or a name with its port: `svc/ns/name:port` (port number or name),
   * `pod/ns/name:port`, or a DNS name (`checkout:8080`, `web.shop.svc.cluster.local:80`) resolved as the
   * source pod's resolver would, through the cluster DNS. Records of named packets carry `names`.
   */
  dst: string;
  /** Source port (TCP/UDP/SCTP). */
  sport?: number;
  /** Destination port (TCP/UDP/SCTP). */
  dport?: number;
  /** `TCP` (default), `UDP`, `SCTP`. */
  proto?: 'TCP' | 'UDP' | 'SCTP' | string;
  /** TCP flags as letters: `S`, `SA`, `A`, `F`, `R`, `P` (default `S`). */
  flags?: string;
  /** Name of the node the packet enters on (default: the node of its source, or of its destination). */
  node?: string;
  /** Virtual time in seconds (default: the emulator's current time; never earlier). */
  t?: number;
  /**
   * An HTTP request to a Gateway listener or an Ingress address (dst:dport): routed by its rules first, then
   * sent through the dataplane to the chosen Service; the record gains `http` (status, route, rule, backend
   * Service, the request as the backend receives it).
   */
  http?: { method?: string; host?: string; path?: string; headers?: Record<string, string> };
}

/** What happened to one packet: the record `dpemu trace` prints. */
export type FlowRecord = TraceRecord;

/** A live conntrack entry. */
export interface ConntrackEntry {
  /** The original tuple. */
  src: string; sport: number; dst: string; dport: number; proto: string;
  /** The tuple as it leaves after NAT. */
  nat: { src: string; sport: number; dst: string; dport: number };
  /** The node whose conntrack holds the entry (each node tracks the flows crossing it). */
  node: string;
  /** Service (`ns/name:port`) and backend (`ip:port`), or null. */
  service: string | null;
  backend: string | null;
  /** TCP state as conntrack sees it: `SYN_SENT`, `ESTABLISHED`, `CLOSING`; `OPEN` for other protocols. */
  state: string;
  /** Virtual time (seconds) at which the flow expires unless refreshed. */
  expires: number;
  packets: number;
  bytes: number;
}

/** A service entry as programmed. */
export interface ServiceInfo {
  /** `ns/name:port` (port name or number). */
  service: string;
  /** The entry's number, as a processed descriptor's SERVICE field (`PKT.SERVICE`) carries it. */
  index: number;
  /**
   * Which of the service port's entries this is: `any` (every node, every source), or one node's entry
   * for `external` or `internal` sources (what a Local traffic policy or topology hints program per node).
   */
  scope: string;
  node: string | null;
  /** The frontends (`ip:port/PROTO`) and what kind each is. */
  frontends: { address: string; kind: string; scope: string; node: string | null }[];
  /** The endpoints it chooses from, in slot order. */
  backends: string[];
  algorithm: string;
  /** The rule the entry follows (traffic policy, topology, affinity), in words. */
  rule: string;
}

/** A programmed backend and its live flows. */
export interface BackendInfo {
  /** `ip:port`. */
  backend: string;
  /** The backend's id, as a processed descriptor's BACKEND field (`PKT.BACKEND`) carries it (never reused). */
  id: number;
  protocol: string;
  /** The endpoint's node and its pod (targetRef name), when the EndpointSlice names them. */
  node: string | null;
  pod: string | null;
  /** Live flows to it. */
  activeFlows: number;
}

/** A rule of the compiled policy table: what a processed descriptor's POLICY_RULE id stands for. */
export interface PolicyRuleInfo {
  /** The id in `PKT.POLICY_RULE` (stable across policy changes). */
  id: number;
  /** The rule in words, as a record's `policy` field names it. */
  text: string;
  direction: 'ingress' | 'egress';
  /** `Allow` or `Deny` for a rule; `Isolated` for the default of a subject some NetworkPolicy isolates. */
  action: 'Allow' | 'Deny' | 'Isolated';
  /** The policy objects behind it (`kind`, `namespace` for a NetworkPolicy, `name`). */
  policies: { kind: string; namespace?: string; name: string }[];
}

/** An address the cluster knows: a pod's or a node's, with what flow tools (Hubble) show of it. */
export interface EndpointAddress {
  address: string;
  kind: 'pod' | 'node';
  /** The pod's namespace (empty for a node). */
  namespace: string;
  /** The pod's or the node's name. */
  name: string;
  /** The pod's labels (a node's labels for a node). */
  labels: Record<string, string>;
  /** The node the pod runs on (the node itself for a node). */
  node: string | null;
  /** The security identity of the address in the ipcache (Cilium's: 1 host, pods from 256). */
  identity: number;
  /** The pod's endpoint id (0 for a node). */
  endpointId: number;
  /** The controller owning the pod (metadata.ownerReferences, or the workload dpemu expanded). */
  owner: { kind: string; name: string } | null;
}

/** The fixed sizes of an emulator's dataplane. */
export interface EmulatorCapacity {
  /**
   * Entries the conntrack tables hold in all: `flows` with room, twice over in a cluster of more than one node (a
   * flow to another node's pod has an entry on each node), split between the shards of per-node state
   * (`limits.shards`).
   */
  flows: number;
  /** The masquerade source-port range (inclusive). */
  natPorts: { min: number; max: number };
}

/**
 * A batch of packed packet descriptors living in the core's own memory (zero copy). The layout is
 * `PKT` (src/packet.ts, drawn in assembly/packet.ts): `stride` bytes per packet at `byteOffset` of
 * `buffer()`. `set(i, packet)` and `get(i)` are conveniences over the same memory.
 */
export interface EmulatorBatch {
  readonly capacity: number;
  /** The descriptors themselves (PacketBatch: typed views, `set`, `get` of raw numbers). */
  readonly raw: PacketBatch;
  /** Write packet `i` from the same object `send()` takes. */
  set(i: number, packet: PacketInput): void;
  /** Packet `i`'s outcome, with a FlowRecord's core field names and value forms. */
  get(i: number): BatchOutcome;
}

/** The core fields of a FlowRecord, read from a batch after process(). */
export interface BatchOutcome {
  verdict: string;
  drop_reason: string | null;
  src: string; sport: number; dst: string; dport: number;
  ct_state: string;
  service: string | null;
  backend: string | null;
}

/** The dpemu library API: one emulated cluster and its dataplane. */
export interface Emulator {
  readonly design: Design;
  readonly backend: 'wasm' | 'reference';
  /** Virtual time in seconds. */
  readonly now: number;
  /** Apply Kubernetes objects (kubectl apply): atomic; throws ManifestError or CapacityError and changes nothing. */
  apply(input: ManifestInput, options?: { source?: string }): ApplyReport;
  /**
   * Apply manifest files as read from disk or fetched ({path, text}: YAML or JSON, multi-document, Lists):
   * one atomic change whose errors name the file, document, object and field (`dpemu/node`'s
   * readManifestFiles reads them from paths).
   */
  applyFiles(files: readonly ManifestText[]): ApplyReport;
  /** Delete the objects of manifest files; atomic. */
  deleteFiles(files: readonly ManifestText[]): ApplyReport;
  /** Delete objects by reference (kind, namespace, name) or those of a manifest; atomic. */
  delete(refs: ObjectRef | readonly ObjectRef[] | ManifestInput): ApplyReport;
  /**
   * Node `name` fails: its conntrack and ClientIP affinity are lost, packets entering it or crossing to it are
   * dropped (NODE_DOWN), and its pods' endpoints go not ready (as the node lifecycle and EndpointSlice
   * controllers mark them), so Services stop choosing them. It stays down until restartNode. InputError for
   * an unknown or already failed node.
   */
  failNode(name: string): ApplyReport;
  /**
   * Node `name` boots again with empty conntrack and affinity (a failed node comes back, its pods ready again).
   * `{ agent: true }`: only its proxy agent restarts, which changes nothing (conntrack outlives the agent).
   */
  restartNode(name: string, options?: { agent?: boolean }): ApplyReport;
  /** Send packets in order, in batches through the core; one record per packet. InputError before anything runs. */
  send(packets: PacketInput | readonly PacketInput[]): FlowRecord[];
  /** Move virtual time forward (expiry and garbage collection run on it). */
  advance(seconds: number): void;
  /** A batch in the core's memory, for the zero-copy path. */
  createBatch(capacity: number): EmulatorBatch;
  /** Run the first `count` packets of `batch` at the current time. Returns how many were forwarded. */
  process(batch: EmulatorBatch, count: number): number;
  counters(): Counters;
  /** The live flows, ordered by original tuple. */
  conntrack(): ConntrackEntry[];
  services(): ServiceInfo[];
  backends(): BackendInfo[];
  /** The policy rule table: what each POLICY_RULE id of a processed descriptor stands for (empty without policies). */
  policyRules(): PolicyRuleInfo[];
  /** Every pod and node address of the cluster, by address. */
  endpoints(): EndpointAddress[];
  /** The dataplane's fixed sizes: conntrack entries, masquerade ports. */
  capacity(): EmulatorCapacity;
  /**
   * Entries the conntrack table holds now, without listing them (cheap enough to call per batch): expired
   * entries count until the clock's garbage collection removes them.
   */
  conntrackCount(): number;
  /** What would happen to a packet, without changing any state. */
  explain(packet: PacketInput): FlowRecord;
  /** Call `listener` with every record send() produces. Returns a function that removes it. */
  onFlow(listener: (record: FlowRecord) => void): () => void;
  /** The records send() produces from now on, as an async iterator (ends when `signal` aborts). */
  flows(signal?: AbortSignal): AsyncIterableIterator<FlowRecord>;
  /**
   * Input lines as `dpemu trace` reads them (JSON: packets, `{"apply": paths}`, `{"delete": ...}` control
   * lines): one output per non-blank line, in order — a record, a change's report, or an error record for a
   * bad line (the others still run). Lines are numbered on from the previous call unless given as
   * `{text, line}`. Control lines that name paths need `options.readFiles` (dpemu/node has one).
   */
  trace(lines: readonly (string | { text: string; line: number })[], options?: TraceOptions): TraceOutput[];
  /**
   * trace() with each output as its JSON text, exactly as `dpemu trace` prints it (records serialized with
   * their repeating parts cached: several times faster than JSON.stringify of trace()'s objects). `stats`,
   * when given, counts the records, error records and changes made.
   */
  traceJson(lines: readonly (string | { text: string; line: number })[], options?: TraceOptions,
    stats?: { packets: number; errors: number; changes: number }): string[];
  /** What looks wrong in the current cluster: the loader's warnings and the compiler's. */
  warnings(): Diagnostic[];
  /** The whole state as bytes; restoreEmulator(bytes) gives an emulator that behaves identically. */
  snapshot(): Uint8Array;
  /** How many worker threads share the packet work (option workers, at most the shards of per-node state). */
  readonly workers: number;
  /** Stop the worker threads (option workers); the emulator is not used afterwards. Nothing to do with one worker. */
  close(): Promise<void>;
}
