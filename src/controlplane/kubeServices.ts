// The iptables design's KUBE-SERVICES chain as the control plane keeps it:
// one rule per frontend, in the order kube-proxy writes them, with every
// node-scoped rule (a Local traffic policy's per-node chain, see
// assembly/designs/iptables.ts) ahead of the unscoped ones so that it wins.
// Both backends keep their list with this class: the WASM host mirrors it
// into core memory, the reference backend scans it.

import { Frontend, SCOPE } from '../dataplane.js';

export interface ServiceRule { addr: number; port: number; proto: number; scope: number; node: number; target: number }

const keyOf = (r: Omit<ServiceRule, 'target'>) => `${r.addr},${r.port},${r.proto},${r.scope},${r.node}`;

export function ruleOf(fe: Frontend, target: number): ServiceRule {
  const scope = SCOPE[fe.scope ?? 'any'];
  return { addr: fe.addr, port: fe.port, proto: fe.proto, scope, node: scope ? fe.node ?? 0 : 0, target };
}

export class KubeServicesChain {
  readonly rules: ServiceRule[] = [];
  private readonly byKey = new Map<string, ServiceRule>();
  private scoped = 0;

  get length(): number { return this.rules.length; }
  has(fe: Frontend): boolean { return this.byKey.has(keyOf(ruleOf(fe, 0))); }

  /** Add or retarget the frontend's rule (a rule keeps its place). Returns the first position that changed. */
  upsert(fe: Frontend, target: number): number {
    const r = ruleOf(fe, target);
    const old = this.byKey.get(keyOf(r));
    if (old) { old.target = target; return this.rules.indexOf(old); }
    this.byKey.set(keyOf(r), r);
    if (r.scope !== 0) { this.rules.splice(this.scoped, 0, r); return this.scoped++; }
    this.rules.push(r);
    return this.rules.length - 1;
  }

  /** Remove the frontend's rule. Returns its position, or -1 when there was none. */
  delete(fe: Frontend): number {
    const k = keyOf(ruleOf(fe, 0));
    const r = this.byKey.get(k);
    if (!r) return -1;
    this.byKey.delete(k);
    const i = this.rules.indexOf(r);
    this.rules.splice(i, 1);
    if (r.scope !== 0) this.scoped--;
    return i;
  }
}
