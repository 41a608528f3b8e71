// dpemu dns: JSON-lines queries in, one JSON record per query out, in order.
// Query {"name", "type" (default A), "client"?: a pod's address, resolved through that pod's resolv.conf}.
// Record {"name","type","rcode","answer":[{name,type,ttl,data}],"extra":[...],"tried":[...]}.

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { ClusterModel } from '../k8s/model.js';
import { ClusterDns, DnsOptions, RRType, RR_TYPES, fqdn } from './server.js';
import { clusterDnsIP, resolvConf, resolveAsPod } from './stub.js';

/** The record for one input line (never throws: a bad line gives {"line", "error"}). */
export function answerLine(dns: ClusterDns, line: string, lineNo: number): Record<string, unknown> {
  let q: unknown;
  try {
    q = JSON.parse(line);
  } catch (e) {
    return { line: lineNo, error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof q !== 'object' || q === null || Array.isArray(q)) return { line: lineNo, error: 'expected an object {"name", "type", "client"}' };
  const { name, type = 'A', client } = q as { name?: unknown; type?: unknown; client?: unknown };
  if (typeof name !== 'string' || name === '' || name.includes('..') || name.length > 254) return { line: lineNo, error: '"name" must be a non-empty domain name' };
  const t = typeof type === 'string' ? type.toUpperCase() : type;
  if (!(RR_TYPES as readonly unknown[]).includes(t)) return { line: lineNo, error: `"type" must be one of ${RR_TYPES.join(', ')}` };
  const qtype = t as RRType;
  if (client === undefined) {
    const r = dns.query(name, qtype);
    return { name: fqdn(name), type: qtype, rcode: r.rcode, answer: r.answer, extra: r.extra, tried: [] };
  }
  if (typeof client !== 'string') return { line: lineNo, error: '"client" must be a pod address' };
  const pod = dns.model.pods.find((p) => p.podIPs.includes(client) && !p.hostNetwork) ?? dns.model.pods.find((p) => p.podIPs.includes(client));
  if (!pod) return { line: lineNo, error: `no pod has address ${client}` };
  const conf = resolvConf(pod, dns.model, dns.zone);
  const r = resolveAsPod(dns, conf, name, qtype, clusterDnsIP(dns.model));
  return { name: r.name, type: qtype, rcode: r.rcode, answer: r.answer, extra: r.extra, tried: r.tried };
}

/** Run the stream; returns the number of bad lines. Stops quietly when `write` reports a closed output. */
export async function dnsStream(model: ClusterModel, opts: DnsOptions, input: Readable, write: (s: string) => boolean | void): Promise<{ errors: number }> {
  const dns = new ClusterDns(model, opts);
  let n = 0, errors = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    if (line.trim() === '') continue;
    const rec = answerLine(dns, line, n);
    if ('error' in rec) errors++;
    if (write(JSON.stringify(rec)) === false) break;
  }
  return { errors };
}
