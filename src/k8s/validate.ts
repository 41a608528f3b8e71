// Field readers and syntax checks for Kubernetes manifests. Every check throws
// a ManifestError naming the file, the document (and List item), the object and
// the field path, so a user can find the mistake. The syntax rules follow
// k8s.io/apimachinery/pkg/util/validation (IsDNS1123Label, IsDNS1123Subdomain,
// IsDNS1035Label, IsQualifiedName, IsValidLabelValue, IsValidPortName,
// IsValidPortNum) and pkg/apis/core/validation.

import { DpemuError } from '../errors.js';
import { dottedQuad, formatIPv4, parseIPv4, prefixMask } from '../common/ip.js';
import { CIDR, IP, PROTOCOLS, Protocol, SourceRef, formatSource } from './model.js';

export interface ObjectContext {
  source: SourceRef;
  kind: string;
  namespace?: string;
  name?: string;
}

export function describeObject(ctx: ObjectContext): string {
  const name = ctx.name ?? '<unnamed>';
  return ctx.namespace !== undefined ? `${ctx.kind} ${ctx.namespace}/${name}` : `${ctx.kind} ${name}`;
}

/**
 * An invalid manifest. The message reads
 * `services.yaml: document 2 (Service default/web): spec.ports[0].port: must be an integer in 1..65535, got "80x"`.
 */
export class ManifestError extends DpemuError {
  constructor(
    readonly source: SourceRef,
    readonly object: string | undefined,
    readonly path: string | undefined,
    readonly detail: string,
  ) {
    super('MANIFEST', `${formatSource(source)}${object ? ` (${object})` : ''}: ${path ? `${path}: ` : ''}${detail}`);
  }

  /** The manifest file the error is in. */
  get file(): string { return this.source.file; }
  /** The field path inside the object (`spec.ports[0].port`), when one field is at fault. */
  get field(): string | undefined { return this.path; }
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'an object';
}

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads typed fields of one object, failing with the object's context and the field path. */
export class Reader {
  constructor(public ctx: ObjectContext) {}

  fail(path: string | undefined, detail: string): never {
    throw new ManifestError(this.ctx.source, describeObject(this.ctx), path, detail);
  }

  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) this.fail(path, `must be an object, got ${show(v)}`);
    return v;
  }
  reqObj(v: unknown, path: string): Obj {
    const o = this.obj(v, path);
    if (o === undefined) this.fail(path, 'required');
    return o;
  }
  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, `must be a list, got ${show(v)}`);
    return v;
  }
  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(path, `must be a string, got ${show(v)}`);
    return v;
  }
  reqStr(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (s === undefined || s === '') this.fail(path, 'required');
    return s;
  }
  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(path, `must be true or false, got ${show(v)}`);
    return v;
  }
  int(v: unknown, path: string, lo: number, hi: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      const quoted = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? ' (a number must not be quoted)' : '';
      this.fail(path, `must be an integer in ${lo}..${hi}, got ${show(v)}${quoted}`);
    }
    return v;
  }
  reqInt(v: unknown, path: string, lo: number, hi: number): number {
    const n = this.int(v, path, lo, hi);
    if (n === undefined) this.fail(path, 'required');
    return n;
  }
  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T | undefined {
    const s = this.str(v, path);
    if (s === undefined || s === '') return undefined;
    if (!(allowed as readonly string[]).includes(s)) {
      this.fail(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${show(s)}`);
    }
    return s as T;
  }
  protocol(v: unknown, path: string): Protocol {
    return this.oneOf(v, path, PROTOCOLS) ?? 'TCP';
  }
  /** A string→string map (labels, selectors, annotations). */
  stringMap(v: unknown, path: string): Record<string, string> {
    const o = this.obj(v, path);
    const out: Record<string, string> = {};
    if (!o) return out;
    for (const k of Object.keys(o)) {
      const val = o[k];
      if (typeof val !== 'string') {
        this.fail(`${path}.${k}`, `must be a string, got ${show(val)}${typeof val === 'number' || typeof val === 'boolean' ? ' (quote it in YAML)' : ''}`);
      }
      out[k] = val;
    }
    return out;
  }
  labels(v: unknown, path: string): Record<string, string> {
    const m = this.stringMap(v, path);
    for (const k of Object.keys(m)) {
      const val = m[k];
      const ek = labelKeyError(k);
      if (ek) this.fail(`${path}`, `key ${show(k)}: ${ek}`);
      const ev = labelValueError(val);
      if (ev) this.fail(`${path}.${k}`, `${ev}, got ${show(val)}`);
    }
    return m;
  }
  /** An IP address; returns the canonical IPv4, or 'ipv6' for a valid IPv6 address. */
  ip(v: unknown, path: string): IP | 'ipv6' | undefined {
    const s = this.str(v, path);
    if (s === undefined || s === '') return undefined;
    const r = checkIP(s);
    if (typeof r === 'object') this.fail(path, `${r.error}, got ${show(s)}`);
    return r;
  }
  cidr(v: unknown, path: string): CIDR | 'ipv6' | undefined {
    const s = this.str(v, path);
    if (s === undefined || s === '') return undefined;
    const r = checkCIDR(s);
    if (typeof r === 'object') this.fail(path, `${r.error}, got ${show(s)}`);
    return r;
  }
  nameCheck(v: string, path: string, check: (s: string) => string | undefined) {
    const e = check(v);
    if (e) this.fail(path, `${e}, got ${show(v)}`);
  }
}

// ---- IPs and CIDRs -----------------------------------------------------------

/** Canonical IPv4 string, 'ipv6' for a valid IPv6 address, or an error. */
export function checkIP(s: string): IP | 'ipv6' | { error: string } {
  if (s.includes(':')) return isIPv6(s) ? 'ipv6' : { error: 'must be a valid IP address (e.g. 10.9.8.7)' };
  const canonical = dottedQuad(s, false);
  if (canonical !== undefined) return s; // digits without leading zeros: already canonical
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return { error: 'must be a valid IPv4 address (e.g. 10.9.8.7)' };
  // Kubernetes no longer accepts leading zeros ("010.1.2.3" was ambiguous: octal or decimal).
  if (s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return { error: 'must be a valid IPv4 address without leading zeros' };
  const v = parseIPv4(s);
  if (v === undefined) return { error: 'must be a valid IPv4 address (each part 0..255)' };
  return formatIPv4(v);
}

function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return false;
  try {
    // URL parsing validates IPv6 literals in Node and in browsers alike.
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

export function checkCIDR(s: string): CIDR | 'ipv6' | { error: string } {
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0) return { error: 'must be a CIDR (e.g. 10.0.0.0/16)' };
  const addr = t.slice(0, slash), len = t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return { error: 'must be a CIDR (e.g. 10.0.0.0/16)' };
  const a = checkIP(addr);
  if (typeof a === 'object') return { error: `must be a CIDR (e.g. 10.0.0.0/16): ${a.error}` };
  if (a === 'ipv6') return Number(len) <= 128 ? 'ipv6' : { error: 'IPv6 prefix length must be 0..128' };
  const plen = Number(len);
  if (plen > 32) return { error: 'IPv4 prefix length must be 0..32' };
  return `${formatIPv4((parseIPv4(a)! & prefixMask(plen)) >>> 0)}/${plen}`;
}

export function cidrRange(c: CIDR): { base: number; size: number; plen: number } {
  const [a, l] = c.split('/');
  const plen = Number(l);
  return { base: parseIPv4(a)!, size: 2 ** (32 - plen), plen };
}

export function cidrContains(c: CIDR, ip: IP): boolean {
  const { base, size } = cidrRange(c);
  const v = parseIPv4(ip)!;
  return v >= base && v < base + size;
}

/** IPs that may not be Service externalIPs (validateNonSpecialIP): unspecified, loopback, link-local, multicast. */
export function specialIPError(ip: IP): string | undefined {
  const v = parseIPv4(ip)!;
  if (v === 0) return 'may not be unspecified (0.0.0.0)';
  if (v >>> 24 === 127) return 'may not be in the loopback range (127.0.0.0/8)';
  if (v >>> 16 === 0xa9fe) return 'may not be in the link-local range (169.254.0.0/16)';
  if (v >>> 28 === 0xe) return 'may not be in the multicast range (224.0.0.0/4)';
  return undefined;
}

// ---- names -------------------------------------------------------------------

// The name rules are character scans rather than regular expressions: every name, label and endpoint of a
// manifest goes through them (a cluster dump has hundreds of thousands), and a scan allocates nothing.
// Each scan states the regular expression of k8s.io/apimachinery it implements.

const isLower = (c: number) => c >= 97 && c <= 122;      // a-z
const isDigit = (c: number) => c >= 48 && c <= 57;       // 0-9
const isAlnum = (c: number) => isLower(c) || isDigit(c) || (c >= 65 && c <= 90); // A-Za-z0-9
const DASH = 45, DOT = 46, UNDERSCORE = 95;

/** ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ over s[from, to) */
function isDns1123Label(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!(isLower(c) || isDigit(c) || (c === DASH && i !== from && i !== to - 1))) return false;
  }
  return true;
}

/** ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ */
function isQualifiedNamePart(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (isAlnum(c)) continue;
    if ((c === DASH || c === UNDERSCORE || c === DOT) && i !== 0 && i !== n - 1) continue;
    return false;
  }
  return true;
}

export function dns1123LabelError(s: string): string | undefined {
  if (s.length > 63) return 'must be no more than 63 characters';
  if (!isDns1123Label(s, 0, s.length)) return "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character)";
  return undefined;
}

export function dns1035LabelError(s: string): string | undefined {
  if (s.length > 63) return 'must be no more than 63 characters';
  // ^[a-z]([-a-z0-9]*[a-z0-9])?$
  if (!(isDns1123Label(s, 0, s.length) && isLower(s.charCodeAt(0)))) {
    return "must be a lowercase RFC 1035 label (a-z, 0-9 and '-', starting with a letter and ending with an alphanumeric character)";
  }
  return undefined;
}

export function dns1123SubdomainError(s: string): string | undefined {
  if (s.length > 253) return 'must be no more than 253 characters';
  // Every '.'-separated part a DNS-1123 label (so no empty part).
  let ok = true;
  for (let from = 0; ok;) {
    let to = s.indexOf('.', from);
    if (to < 0) to = s.length;
    ok = isDns1123Label(s, from, to);
    if (to === s.length) break;
    from = to + 1;
  }
  if (!ok) {
    return "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', starting and ending with an alphanumeric character)";
  }
  return undefined;
}

export function labelKeyError(k: string): string | undefined {
  const slash = k.indexOf('/');
  let name = k;
  if (slash >= 0) {
    const prefix = k.slice(0, slash);
    name = k.slice(slash + 1);
    if (!prefix) return 'prefix part must be non-empty';
    const e = dns1123SubdomainError(prefix);
    if (e) return `prefix part ${e}`;
  }
  if (!name) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!isQualifiedNamePart(name)) return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

export function labelValueError(v: string): string | undefined {
  if (v.length > 63) return 'must be no more than 63 characters';
  // ^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$
  if (v.length > 0 && !isQualifiedNamePart(v)) return "must be empty or consist of alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character";
  return undefined;
}

/** IANA_SVC_NAME (IsValidPortName): ≤15 chars, [-a-z0-9], at least one letter, no leading/trailing/double '-'. */
export function portNameError(s: string): string | undefined {
  const errs: string[] = [];
  if (s.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(s)) errs.push('must contain only lowercase alphanumeric characters (a-z, 0-9) and hyphens (-)');
  if (!/[a-z]/.test(s)) errs.push(`must contain at least one letter (a-z)${/^\d+$/.test(s) ? ' (a port number must not be quoted)' : ''}`);
  if (s.includes('--')) errs.push('must not contain consecutive hyphens');
  if (s.startsWith('-') || s.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs.length ? errs.join('; ') : undefined;
}

// ---- deterministic names -----------------------------------------------------

/** FNV-1a 32-bit over the UTF-8 bytes of s (the hasher behind controller.ComputeHash). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The alphabet of rand.String / rand.SafeEncodeString (k8s.io/apimachinery/pkg/util/rand): no vowels. */
export const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: maps each character to the safe alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHANUMS[s.charCodeAt(i) % SAFE_ALPHANUMS.length];
  return out;
}

/** Five characters of the generateName alphabet, derived from a seed string (deterministic stand-in for rand.String(5)). */
export function suffix5(seed: string): string {
  let h = fnv1a32(seed);
  let out = '';
  for (let i = 0; i < 5; i++) {
    out += SAFE_ALPHANUMS[h % SAFE_ALPHANUMS.length];
    h = Math.floor(h / SAFE_ALPHANUMS.length);
  }
  return out;
}

/** JSON with object keys sorted, so equal objects hash equal whatever their key order. */
export function stableJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJSON).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJSON(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
