// The IP protocols dpemu knows, stated once: name, number (IANA; the core's PROTO_* in assembly/packet.ts,
// held equal by test/layout.test.ts), and what each has. Every host module that names a protocol or turns a
// name into a number takes it from here.

export interface ProtocolInfo {
  name: 'ICMP' | 'TCP' | 'UDP' | 'SCTP';
  /** The IP protocol number. */
  number: number;
  /** Whether packets carry source and destination ports (ICMP: an echo identifier at most, no ports). */
  ports: boolean;
  /** Whether packets carry TCP flags. */
  tcpFlags: boolean;
  /** Whether Kubernetes names it as a Service / container / policy port protocol (core/v1 Protocol). */
  kubernetes: boolean;
}

/** In the order Kubernetes lists its protocols (core/v1 ProtocolTCP, ProtocolUDP, ProtocolSCTP), then ICMP. */
export const PROTOCOL_TABLE: readonly ProtocolInfo[] = [
  { name: 'TCP', number: 6, ports: true, tcpFlags: true, kubernetes: true },
  { name: 'UDP', number: 17, ports: true, tcpFlags: false, kubernetes: true },
  { name: 'SCTP', number: 132, ports: true, tcpFlags: false, kubernetes: true },
  { name: 'ICMP', number: 1, ports: false, tcpFlags: false, kubernetes: false },
];

export type ProtocolName = ProtocolInfo['name'];
/** A Kubernetes port protocol (core/v1 Protocol). */
export type KubernetesProtocol = 'TCP' | 'UDP' | 'SCTP';

/** Numbers by name: PROTO.TCP is 6. */
export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, SCTP: 132 } as const satisfies Record<ProtocolName, number>;

const BY_NUMBER = new Map(PROTOCOL_TABLE.map((p) => [p.number, p]));
const BY_NAME = new Map(PROTOCOL_TABLE.map((p) => [p.name, p]));

/** Names by number: PROTO_NAMES[6] is 'TCP'. */
export const PROTO_NAMES: Readonly<Record<number, ProtocolName>> = Object.fromEntries(PROTOCOL_TABLE.map((p) => [p.number, p.name]));

/** The Kubernetes protocols, in Kubernetes' order (what a manifest's `protocol` may be). */
export const KUBERNETES_PROTOCOLS: readonly KubernetesProtocol[] =
  PROTOCOL_TABLE.filter((p) => p.kubernetes).map((p) => p.name as KubernetesProtocol);

/** The protocol with this number, if dpemu knows it. */
export const protocolInfo = (num: number): ProtocolInfo | undefined => BY_NUMBER.get(num);

/** The number of a protocol named in any case ("tcp", "TCP"), or undefined. */
export const protocolNumber = (name: string): number | undefined => BY_NAME.get(name.toUpperCase() as ProtocolName)?.number;

/** Whether the core handles this protocol (any other is dropped as UNKNOWN_L4_PROTOCOL). */
export const isKnownProtocol = (num: number): boolean => BY_NUMBER.has(num);

/** Whether packets of this protocol carry ports. */
export const hasPorts = (num: number): boolean => BY_NUMBER.get(num)?.ports ?? false;
