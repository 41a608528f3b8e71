// A small hand-written cluster for the stage tests: two nodes, a few pods,
// services named by what they exercise. Addresses read as in a real cluster.
import { createDataplane, BackendKind } from '../../src/node.js';
import { Dataplane, Options, IPC_FLAG, SVC_FLAG, ServiceConfig } from '../../src/dataplane.js';
import { ip } from '../../src/common/ip.js';
import { PacketBatch, PacketIn, PacketRecord, PROTO, TCP } from '../../src/packet.js';

export const NODE0 = ip('192.168.0.1'), NODE1 = ip('192.168.0.2');
export const CLIENT = ip('10.1.0.10'), CLIENT2 = ip('10.1.0.11'), EXTERNAL = ip('203.0.113.7');
export const POD_A = ip('10.1.0.20'), POD_B = ip('10.2.0.20'), POD_C = ip('10.2.0.21');
export const VIP = ip('10.96.0.10'), VIP_EMPTY = ip('10.96.0.11'), VIP_MASQ = ip('10.96.0.12'), VIP2 = ip('10.96.0.13');
export const BACKEND_A = 0, BACKEND_B = 1, BACKEND_C = 2;
export const IDENT_CLIENT = 5000, IDENT_CLIENT2 = 5001, IDENT_APP = 1000;

export class Harness {
  private batch: PacketBatch;
  constructor(readonly dp: Dataplane) { this.batch = dp.allocBatch(64); }

  /** Send packets (all at time `t` seconds); returns what left. */
  send(t: number, ...packets: PacketIn[]): PacketRecord[] {
    packets.forEach((p, i) => this.batch.set(i, p));
    this.dp.process(this.batch, packets.length, Math.round(t * 1000));
    return packets.map((_, i) => this.batch.get(i));
  }
  one(t: number, p: PacketIn): PacketRecord { return this.send(t, p)[0]; }

  /** The reply a destination sends back to what it received. */
  reply(t: number, r: PacketRecord, tcpFlags = TCP.SYN | TCP.ACK, node = 0): PacketRecord {
    return this.one(t, { saddr: r.outDaddr, daddr: r.outSaddr, sport: r.outDport, dport: r.outSport, proto: r.proto, tcpFlags, node });
  }

  setService(index: number, vip: number, s: ServiceConfig, port = 80, proto: number = PROTO.TCP): void {
    this.dp.setService(index, s);
    this.dp.upsertFrontend({ addr: vip, port, proto }, index);
  }
}

export function tcp(saddr: number, daddr: number, sport: number, dport: number, tcpFlags: number = TCP.SYN, node = 0): PacketIn {
  return { saddr, daddr, sport, dport, proto: PROTO.TCP, tcpFlags, node, len: 60 };
}
export function udp(saddr: number, daddr: number, sport: number, dport: number, node = 0): PacketIn {
  return { saddr, daddr, sport, dport, proto: PROTO.UDP, node, len: 100 };
}

/** Nodes, pods and three services: VIP (3 backends, random), VIP_EMPTY (none), VIP_MASQ (masquerades externals). */
export async function cluster(kind: BackendKind, options: Options = {}): Promise<Harness> {
  const dp = await createDataplane(kind, { maxFlows: 1024, maxServices: 16, maxBackends: 16, maxSlots: 256, maxMaglevCells: 8192, ...options });
  dp.setNode(0, NODE0); dp.setNode(1, NODE1);
  dp.upsertIpcache(NODE0, 32, { identity: 1, endpoint: 0, node: 0, flags: IPC_FLAG.HOST });
  dp.upsertIpcache(NODE1, 32, { identity: 1, endpoint: 0, node: 1, flags: IPC_FLAG.HOST });
  dp.upsertIpcache(CLIENT, 32, { identity: IDENT_CLIENT, endpoint: 1, node: 0, flags: IPC_FLAG.POD });
  dp.upsertIpcache(CLIENT2, 32, { identity: IDENT_CLIENT2, endpoint: 2, node: 0, flags: IPC_FLAG.POD });
  dp.upsertIpcache(POD_A, 32, { identity: IDENT_APP, endpoint: 10, node: 0, flags: IPC_FLAG.POD });
  dp.upsertIpcache(POD_B, 32, { identity: IDENT_APP, endpoint: 11, node: 1, flags: IPC_FLAG.POD });
  dp.upsertIpcache(POD_C, 32, { identity: IDENT_APP, endpoint: 12, node: 1, flags: IPC_FLAG.POD });
  dp.setBackend(BACKEND_A, { addr: POD_A, port: 8080, node: 0 });
  dp.setBackend(BACKEND_B, { addr: POD_B, port: 8080, node: 1 });
  dp.setBackend(BACKEND_C, { addr: POD_C, port: 8080, node: 1 });
  const h = new Harness(dp);
  h.setService(0, VIP, { algo: 'random', backends: [BACKEND_A, BACKEND_B, BACKEND_C] });
  h.setService(1, VIP_EMPTY, { algo: 'random', backends: [] });
  h.setService(2, VIP_MASQ, { algo: 'rr', backends: [BACKEND_B], flags: SVC_FLAG.MASQ_EXTERNAL });
  return h;
}
