// The compiled cluster: the model, its plan and ids, with the lookups that explain a packet (which frontend,
// which entry, whose address).

import { ClusterModel } from './model.js';
import { PROTO } from '../protocols.js';
import { PolicySpec } from '../policy/spec.js';
import { Allocations, PlannedBackend } from './ids.js';
import { PROTOCOL_NUMBER, Plan, PlannedFrontend, PlannedService, PlannedServicePort, ResolvedCompileOptions } from './plan.js';
import { ipNum } from './plan-service.js';
import type { EndpointsDelta } from './replan.js';

/** (address, port, protocol) as one number: address x 2^24 + port x 2^8 + protocol (< 2^56, exact in a double). */
/**
 * A frontend as one exact number: address (32 bits), port (16) and the protocol as 2 bits (TCP, UDP, SCTP,
 * other) make 50 bits, inside a double's 53 (a full protocol byte would make 56, and rounding would merge
 * frontends of addresses above 2^29 that differ only in protocol).
 */
const protoBits = (proto: number) => (proto === PROTO.TCP ? 0 : proto === PROTO.UDP ? 1 : proto === PROTO.SCTP ? 2 : 3);
const frontendNumber = (addr: number, port: number, proto: number) => (addr * 0x10000 + port) * 4 + protoBits(proto);

/** What was compiled, with the lookups `dpemu trace` needs to explain a packet. */
export class CompiledCluster {
  readonly nodeIdByName: Map<string, number>;
  readonly nodeNameById: Map<number, string>;
  /** By backend id (every backend ever programmed, so that old flows can still be named). */
  readonly backendsById: Map<number, PlannedBackend>;
  /** By service index (entries ever programmed; a reused index names its latest entry). */
  readonly servicesByIndex: Map<number, PlannedService>;
  /** By frontendNumber (a number key: this is looked up for every traced packet). */
  private readonly frontendKinds = new Map<number, PlannedFrontend>();
  private readonly owners = new Map<number, { node: string; pod?: string }>();

  constructor(readonly model: ClusterModel, readonly plan: Plan, readonly alloc: Allocations, previous?: CompiledCluster) {
    this.nodeIdByName = new Map(plan.nodes.map((n) => [n.name, n.id]));
    this.nodeNameById = new Map(plan.nodes.map((n) => [n.id, n.name]));
    this.backendsById = new Map(previous?.backendsById ?? []);
    for (const b of plan.backends.values()) this.backendsById.set(b.id, b);
    this.servicesByIndex = new Map(previous?.servicesByIndex ?? []);
    for (const s of plan.services.values()) this.servicesByIndex.set(s.index, s);
    for (const fe of plan.frontends.values()) {
      const k = frontendNumber(fe.addr, fe.port, PROTOCOL_NUMBER[fe.protocol]);
      if (!this.frontendKinds.has(k) || fe.scope === 'any') this.frontendKinds.set(k, fe);
    }
    for (const n of plan.nodes) this.owners.set(n.addr, { node: n.name });
    for (const p of model.pods) {
      if (p.hostNetwork || p.nodeName === undefined || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
      for (const a of p.podIPs) if (!this.owners.has(ipNum(a))) this.owners.set(ipNum(a), { node: p.nodeName, pod: `${p.namespace}/${p.name}` });
    }
  }

  /** After programEndpointsDelta: the entries and backends it wrote (the plan itself was updated in place). */
  noteEndpointsDelta(delta: EndpointsDelta): void {
    for (const k of delta.backendsAdded) { const b = this.plan.backends.get(k)!; this.backendsById.set(b.id, b); }
    for (const k of delta.entriesBefore.keys()) { const s = this.plan.services.get(k)!; this.servicesByIndex.set(s.index, s); }
  }

  get options(): ResolvedCompileOptions { return this.plan.options; }
  get warnings(): string[] { return this.plan.warnings; }

  private spec?: PolicySpec;
  /** The spec evaluator of this cluster's policies (for explanations), or undefined without policies. */
  policySpec(): PolicySpec | undefined {
    if (!this.model.policies) return undefined;
    return (this.spec ??= new PolicySpec(this.model, this.model.policies, this.plan.options.policyKnobs));
  }

  /** The model's NetworkPolicies changed in place (the runtime's single-policy path): explanations start afresh. */
  notePoliciesChanged(): void { this.spec = undefined; }

  /** The frontend (address, port, protocol) is: ClusterIP, NodePort, LoadBalancer or externalIP, and whose. */
  frontend(addr: number, port: number, proto: number): PlannedFrontend | undefined {
    return this.frontendKinds.get(frontendNumber(addr, port, proto));
  }

  /** Who has this address: a node (its own address) or a pod (and its node). */
  owner(addr: number): { node: string; pod?: string } | undefined { return this.owners.get(addr); }

  /** The service port an entry belongs to. */
  servicePort(s: PlannedService): PlannedServicePort | undefined { return this.plan.servicePorts.get(s.portKey); }
}
