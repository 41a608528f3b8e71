// Synthetic traffic over a synthetic cluster, written straight into a batch's
// bytes (no per-packet objects): flow f is a fixed client:port -> service pair,
// so the same flow id always makes the same packet.

import { PacketBatch, PKT, TCP, PROTO } from './packet.js';
import type { SyntheticCluster } from './controlplane/synthetic.js';
import { fmix32 } from './common/hash.js';

export interface FlowPacket { saddr: number; daddr: number; sport: number; dport: number; proto: number; node: number }

/** The packet that starts flow `f` of `flows` over cluster `c`. */
export function flowPacket(c: SyntheticCluster, f: number): FlowPacket {
  const h = fmix32(f + 0x9e3779b9);
  const client = c.clients[f % c.clients.length];
  const svc = c.services[h % c.services.length];
  return {
    saddr: client.addr, daddr: svc.vip, sport: 1024 + (Math.floor(f / c.clients.length) % 64000),
    dport: svc.port, proto: svc.proto, node: client.node,
  };
}

/**
 * Fill `count` descriptors: packet k belongs to flow pick(k). `flags` is the TCP
 * flags byte (SYN to open, ACK for established traffic).
 */
export function fillBatch(batch: PacketBatch, c: SyntheticCluster, count: number, pick: (k: number) => number, flags: number, len = 64): void {
  const d = batch.view();
  for (let k = 0; k < count; k++) {
    const p = flowPacket(c, pick(k));
    const o = k * PKT.STRIDE;
    d.setUint32(o + PKT.SADDR, p.saddr, true); d.setUint32(o + PKT.DADDR, p.daddr, true);
    d.setUint16(o + PKT.SPORT, p.sport, true); d.setUint16(o + PKT.DPORT, p.dport, true);
    d.setUint8(o + PKT.PROTO, p.proto); d.setUint8(o + PKT.TCP_FLAGS, p.proto === PROTO.TCP ? flags : 0);
    d.setUint16(o + PKT.NODE, p.node, true); d.setUint16(o + PKT.LEN, len, true);
  }
}

export const SYN = TCP.SYN;
export const ACK = TCP.ACK;
