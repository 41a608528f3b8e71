// DNS wire format (RFC 1035) through the dns-packet library: a query's bytes for a name and type, and the
// response bytes the cluster DNS gives to a wire-format query, so queries can travel as real UDP/53 payloads.

import dnsPacket from 'dns-packet';
import { ClusterDns, RR, RRType, RR_TYPES } from './server.js';

/** The bytes of a recursive query (RD set) for one question. */
export function encodeQuery(name: string, type: RRType = 'A', id = 0): Uint8Array {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as dnsPacket.RecordType, name: name.replace(/\.$/, ''), class: 'IN' }] });
}

function toAnswer(r: RR): dnsPacket.Answer {
  const name = r.name.replace(/\.$/, '');
  const bare = (s: string) => s.replace(/\.$/, '');
  switch (r.type) {
    case 'SRV': {
      const [priority, weight, port, target] = r.data.split(' ');
      return { name, type: 'SRV', ttl: r.ttl, class: 'IN', data: { priority: +priority!, weight: +weight!, port: +port!, target: bare(target!) } };
    }
    case 'SOA': {
      const [mname, rname, serial, refresh, retry, expire, minimum] = r.data.split(' ');
      return { name, type: 'SOA', ttl: r.ttl, class: 'IN', data: { mname: bare(mname!), rname: bare(rname!), serial: +serial!, refresh: +refresh!, retry: +retry!, expire: +expire!, minimum: +minimum! } };
    }
    case 'TXT': return { name, type: 'TXT', ttl: r.ttl, class: 'IN', data: r.data };
    case 'A': case 'AAAA': return { name, type: r.type, ttl: r.ttl, class: 'IN', data: r.data };
    default: return { name, type: r.type, ttl: r.ttl, class: 'IN', data: bare(r.data) } as dnsPacket.Answer;
  }
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** Answer a wire-format query: the response's bytes (same id, QR and AA set, RD copied, RA clear). A query
 * that does not decode, or has no single question of a known type, gets FORMERR / NOTIMP as CoreDNS would. */
export function answerWire(dns: ClusterDns, query: Uint8Array): Uint8Array {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(Buffer.from(query));
  } catch {
    // Too short to hold even the id: nothing to reply to but a FORMERR with id 0.
    return dnsPacket.encode({ type: 'response', id: query.length >= 2 ? (query[0]! << 8) | query[1]! : 0, flags: 1 /* FORMERR */ });
  }
  const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const question = q.questions?.[0];
  if (!question || q.questions!.length !== 1) return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: rd | 1 });
  if (!(RR_TYPES as readonly string[]).includes(question.type)) {
    // Types the plugin has no case for get the handler's fake A lookup: NODATA or NXDOMAIN.
    const r = dns.query(question.name, 'ANY');
    return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: rd | dnsPacket.AUTHORITATIVE_ANSWER | RCODES[r.rcode], questions: [question] });
  }
  const r = dns.query(question.name, question.type as RRType);
  const negative = r.answer.length === 0 && r.rcode !== 'REFUSED';
  return dnsPacket.encode({
    type: 'response', id: q.id ?? 0, flags: rd | (r.rcode === 'REFUSED' ? 0 : dnsPacket.AUTHORITATIVE_ANSWER) | RCODES[r.rcode],
    questions: [question], answers: r.answer.map(toAnswer), additionals: r.extra.map(toAnswer),
    // NXDOMAIN and NODATA carry the zone's SOA in the authority section (RFC 2308; plugin.BackendError).
    authorities: negative ? [toAnswer(dns.soa())] : [],
  });
}

/** Decode a response into the JSON record shape (rcode, answer, extra). */
export function decodeResponse(bytes: Uint8Array): { id: number; rcode: string; answer: RR[]; extra: RR[]; authority: RR[] } {
  const p = dnsPacket.decode(Buffer.from(bytes));
  const dot = (s: string) => (s.endsWith('.') ? s : s + '.').toLowerCase();
  const rr = (a: dnsPacket.Answer): RR => {
    const d = (a as { data: unknown }).data;
    let data: string;
    if (a.type === 'SRV') { const s = d as dnsPacket.SrvAnswer['data']; data = `${s.priority ?? 0} ${s.weight ?? 0} ${s.port} ${dot(s.target)}`; }
    else if (a.type === 'SOA') { const s = d as dnsPacket.SoaAnswer['data']; data = `${dot(s.mname)} ${dot(s.rname)} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`; }
    else if (a.type === 'TXT') data = ([] as unknown[]).concat(d).map((x) => Buffer.isBuffer(x) ? x.toString() : String(x)).join('');
    else if (a.type === 'A' || a.type === 'AAAA') data = String(d);
    else data = dot(String(d));
    return { name: dot(a.name), type: a.type as RR['type'], ttl: (a as { ttl?: number }).ttl ?? 0, data };
  };
  return {
    id: p.id ?? 0, rcode: (p as { rcode?: string }).rcode ?? 'NOERROR',
    answer: (p.answers ?? []).map(rr), extra: (p.additionals ?? []).map(rr), authority: (p.authorities ?? []).map(rr),
  };
}
