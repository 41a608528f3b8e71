// Stable ids: what the compiler numbers (nodes, backends, service entries, identities, endpoints) keeps
// its number across compilations, so that an unchanged object is not written again and flows keep naming
// their backend. Also the plan's backend table (BackendMap), indexed by those ids.

import { IdTable } from '../common/idtable.js';
import { dottedQuad } from '../common/ip.js';
import { PolicyIds } from '../policy/compile.js';
import { PROTOCOLS, Protocol } from './model.js';

/** A backend: one endpoint address, port and protocol, known to the dataplane by its id. */
export interface PlannedBackend {
  id: number;
  /** "ip:port/PROTO" */
  key: string;
  addr: number;
  port: number;
  protocol: Protocol;
  /** The endpoint's node (EndpointSlice nodeName), when known. */
  node?: string;
  /** targetRef name of the endpoint (a pod), when known. */
  target?: string;
}

/** Id allocation kept across compilations, so that an unchanged object keeps its number. */
export class Allocations {
  readonly nodeIds = new Map<string, number>();
  /** Backend ids by backendNumber (endpoint address, port and protocol). */
  private backendIds = new IdTable(1024);
  readonly serviceIndex = new Map<string, number>();
  readonly identities = new Map<string, number>();
  readonly endpointIds = new Map<string, number>();
  readonly maglevM = new Map<string, number>();
  readonly policyIds = new PolicyIds();
  private nextNode = 0;
  private nextBackend = 0;
  private nextService = 0;
  private nextIdentity = 256; // Cilium: cluster-local identities start at 256
  private nextEndpoint = 1;
  private readonly freeServices: number[] = [];

  node(name: string): number {
    let id = this.nodeIds.get(name);
    if (id === undefined) this.nodeIds.set(name, (id = this.nextNode++));
    return id;
  }
  /** The id of the backend with this backendNumber. */
  backend(num: number): number {
    let id = this.backendIds.get(num);
    if (id === undefined) this.backendIds.set(num, (id = this.nextBackend++));
    return id;
  }
  /** The id the backend "ip:port/PROTO" was given, if any. */
  backendId(key: string): number | undefined {
    const num = backendNumberOfKey(key);
    return num === undefined ? undefined : this.backendIds.get(num);
  }
  hasBackend(num: number): boolean { return this.backendIds.has(num); }
  identity(key: string): number {
    let id = this.identities.get(key);
    if (id === undefined) this.identities.set(key, (id = this.nextIdentity++));
    return id;
  }
  endpoint(key: string): number {
    let id = this.endpointIds.get(key);
    if (id === undefined) this.endpointIds.set(key, (id = this.nextEndpoint++));
    return id;
  }
  /** A service index: the entry's own, else a never-used one, else (when `limit` is reached) a freed one. */
  service(key: string, limit = Infinity): number {
    let id = this.serviceIndex.get(key);
    if (id === undefined) {
      id = this.nextService < limit || this.freeServices.length === 0 ? this.nextService++ : this.freeServices.shift()!;
      this.serviceIndex.set(key, id);
    }
    return id;
  }
  releaseService(key: string): void {
    const id = this.serviceIndex.get(key);
    if (id === undefined) return;
    this.serviceIndex.delete(key);
    this.maglevM.delete(key);
    this.freeServices.push(id);
  }
  get nodeCount(): number { return this.nextNode; }
  /** Backend ids handed out so far (the next one is this number). */
  get backendCount(): number { return this.nextBackend; }

  /**
   * The allocations as they are now; calling the result puts them back (a change that failed must not
   * keep the ids it was given, or they would be lost to later changes).
   */
  checkpoint(): () => void {
    const maps: [Map<string, number>, Map<string, number>][] = [this.nodeIds, this.serviceIndex, this.identities, this.endpointIds, this.maglevM]
      .map((m) => [m, new Map(m)]);
    const backendIds = this.backendIds.clone();
    const policy = this.policyIds.checkpoint();
    const { nextNode, nextBackend, nextService, nextIdentity, nextEndpoint } = this;
    const freeServices = [...this.freeServices];
    return () => {
      for (const [live, saved] of maps) { live.clear(); for (const [k, v] of saved) live.set(k, v); }
      this.backendIds = backendIds;
      policy();
      Object.assign(this, { nextNode, nextBackend, nextService, nextIdentity, nextEndpoint });
      this.freeServices.length = 0;
      this.freeServices.push(...freeServices);
    };
  }
}

// ---------------------------------------------------------------- the backend table

/** A Kubernetes protocol in two bits: its place in the protocol table's Kubernetes list. */
const PROTOCOL_INDEX = Object.fromEntries(PROTOCOLS.map((p, i) => [p, i])) as Record<Protocol, number>;

/**
 * A backend's address, port and protocol as one number (32 + 16 + 2 bits, exact in a double): what the
 * backend indices are keyed by. With 100,000 backends, a Map lookup by a freshly built "ip:port/PROTO"
 * string costs about ten times one by number (the string is flattened, hashed and compared).
 */
export function backendNumber(addr: number, port: number, protocol: Protocol): number {
  return (addr * 65536 + port) * 4 + PROTOCOL_INDEX[protocol];
}

/** backendNumber of a backend key "ip:port/PROTO" as the planner writes them (canonical), or undefined. */
export function backendNumberOfKey(key: string): number | undefined {
  const colon = key.indexOf(':'), slash = key.indexOf('/', colon);
  if (colon < 0 || slash < 0) return undefined;
  const addr = dottedQuad(key.slice(0, colon), false), portText = key.slice(colon + 1, slash), port = Number(portText);
  const proto = key.slice(slash + 1) as Protocol;
  if (addr === undefined || !(port >= 0 && port <= 65535 && String(port) === portText) || !Object.hasOwn(PROTOCOL_INDEX, proto)) return undefined;
  return backendNumber(addr, port, proto);
}

/**
 * Plan.backends: a Map from "ip:port/PROTO" to the backend, stored by id. The planner looks a backend up per
 * endpoint (100,000 in the control-plane benchmark), and with string keys building and hashing them was most
 * of its time; here it finds the id in Allocations (by backendNumber) and the backend in an array. The index
 * by backendNumber (for lookups by key string, and the single-service replans) is built when first asked for.
 * Backend ids and numbers correspond one to one (Allocations hands them out), and the backends iterate in
 * id order. Keys are the backends' own (`set` refuses a key that is not the backend's).
 */
export class BackendMap implements Map<string, PlannedBackend> {
  private readonly byId: (PlannedBackend | undefined)[] = [];
  private count = 0;
  private byNumber?: IdTable; // backendNumber -> id
  get size(): number { return this.count; }
  get [Symbol.toStringTag](): string { return 'BackendMap'; }
  getById(id: number): PlannedBackend | undefined { return this.byId[id]; }
  getByNumber(num: number): PlannedBackend | undefined {
    const id = this.index().get(num);
    return id === undefined ? undefined : this.byId[id];
  }
  /** The index by backendNumber (to ids), built on first use and kept up to date from then on. */
  index(): IdTable {
    if (!this.byNumber) {
      this.byNumber = new IdTable(this.count);
      for (const b of this.byId) if (b) this.byNumber.set(backendNumber(b.addr, b.port, b.protocol), b.id);
    }
    return this.byNumber;
  }
  /** Add (or replace) the backend with this id. */
  add(b: PlannedBackend): void {
    if (this.byId[b.id] === undefined) this.count++;
    this.byId[b.id] = b;
    this.byNumber?.set(backendNumber(b.addr, b.port, b.protocol), b.id);
  }
  deleteByNumber(num: number): boolean {
    const id = this.index().get(num);
    if (id === undefined) return false;
    this.byNumber!.delete(num);
    this.byId[id] = undefined;
    this.count--;
    return true;
  }
  get(key: string): PlannedBackend | undefined {
    const num = backendNumberOfKey(key);
    return num === undefined ? undefined : this.getByNumber(num);
  }
  has(key: string): boolean { return this.get(key) !== undefined; }
  set(key: string, b: PlannedBackend): this {
    if (key !== b.key || backendNumberOfKey(key) !== backendNumber(b.addr, b.port, b.protocol)) {
      throw new RangeError(`backends: key ${JSON.stringify(key)} is not the key of backend ${JSON.stringify(b.key)}`);
    }
    this.add(b);
    return this;
  }
  delete(key: string): boolean {
    const num = backendNumberOfKey(key);
    return num !== undefined && this.deleteByNumber(num);
  }
  clear(): void { this.byId.length = 0; this.count = 0; this.byNumber = undefined; }
  forEach(f: (b: PlannedBackend, key: string, map: Map<string, PlannedBackend>) => void, thisArg?: unknown): void {
    for (const b of this.byId) if (b) f.call(thisArg, b, b.key, this);
  }
  *entries(): MapIterator<[string, PlannedBackend]> { for (const b of this.byId) if (b) yield [b.key, b]; }
  *keys(): MapIterator<string> { for (const b of this.byId) if (b) yield b.key; }
  *values(): MapIterator<PlannedBackend> { for (const b of this.byId) if (b) yield b; }
  [Symbol.iterator](): MapIterator<[string, PlannedBackend]> { return this.entries(); }
}
