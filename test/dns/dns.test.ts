import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { loadManifests } from '../../src/k8s/load.js';
import { ClusterDns, reverseName } from '../../src/dns/server.js';
import { candidates, clusterDnsIP, resolvConf, resolveAsPod } from '../../src/dns/stub.js';
import { answerWire, decodeResponse, encodeQuery } from '../../src/dns/wire.js';
import { dnsStream } from '../../src/dns/cli.js';

const CLUSTER = `
apiVersion: v1
kind: Node
metadata: { name: n1 }
spec: { podCIDR: 10.244.1.0/24 }
status: { addresses: [{ type: InternalIP, address: 192.168.0.1 }] }
---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system }
spec: { clusterIP: 10.96.0.10, selector: { k8s-app: kube-dns }, ports: [{ name: dns, port: 53, protocol: UDP }, { name: dns-tcp, port: 53, protocol: TCP }] }
---
apiVersion: v1
kind: Pod
metadata: { name: coredns-1, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec: { nodeName: n1, containers: [{ name: c, ports: [{ name: dns, containerPort: 53, protocol: UDP }, { name: dns-tcp, containerPort: 53 }] }] }
status: { phase: Running, podIP: 10.244.1.2, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.20, selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }, { name: https, port: 443, targetPort: 8443 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: web-a, namespace: shop, labels: { app: web } }
spec: { nodeName: n1, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.244.1.5, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { clusterIP: None, selector: { app: db }, ports: [{ name: pg, port: 5432 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: db-0, namespace: shop, labels: { app: db } }
spec: { nodeName: n1, hostname: db-0, subdomain: db, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.244.1.10, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: db-1, namespace: shop, labels: { app: db } }
spec: { nodeName: n1, hostname: db-1, subdomain: db, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.244.1.11, conditions: [{ type: Ready, status: "False" }] }
---
apiVersion: v1
kind: Service
metadata: { name: cache, namespace: shop }
spec: { clusterIP: None, publishNotReadyAddresses: true, selector: { app: db }, ports: [{ name: redis, port: 6379 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ext, namespace: shop }
spec: { type: ExternalName, externalName: api.example.com }
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: shop }
spec: { clusterIP: None, selector: { app: none }, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: shop }
spec: { nodeName: n1, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.244.1.20, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: custom, namespace: shop }
spec: { nodeName: n1, dnsPolicy: None, dnsConfig: { nameservers: [10.96.0.10], searches: [corp.example], options: [{ name: ndots, value: "2" }] }, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.244.1.21, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: hostpod, namespace: shop }
spec: { nodeName: n1, hostNetwork: true, containers: [{ name: c }] }
status: { phase: Running, podIP: 192.168.0.1, conditions: [{ type: Ready, status: "True" }] }
`;

const model = () => loadManifests([{ path: 'c.yaml', text: CLUSTER }]).model;
const dns = new ClusterDns(model());
const data = (name: string, type: Parameters<ClusterDns['query']>[1] = 'A') => dns.query(name, type).answer.map((r) => r.data);

describe('records as the CoreDNS kubernetes plugin serves them', () => {
  it('a ClusterIP Service is an A record to its cluster IP', () => {
    expect(dns.query('web.shop.svc.cluster.local.', 'A')).toEqual({
      rcode: 'NOERROR', answer: [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }], extra: [],
    });
    expect(data('WEB.Shop.svc.cluster.local')).toEqual(['10.96.0.20']);
  });

  it('SRV for a named port, and for every port of the service with the weight 100/n', () => {
    const r = dns.query('_http._tcp.web.shop.svc.cluster.local.', 'SRV');
    expect(r.answer.map((a) => a.data)).toEqual(['0 100 80 web.shop.svc.cluster.local.']);
    expect(r.extra).toEqual([{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }]);
    expect(data('web.shop.svc.cluster.local.', 'SRV')).toEqual(['0 50 80 web.shop.svc.cluster.local.', '0 50 443 web.shop.svc.cluster.local.']);
    expect(dns.query('_http._udp.web.shop.svc.cluster.local.', 'SRV').rcode).toBe('NXDOMAIN');
  });

  it('headless: ready endpoints only, unless publishNotReadyAddresses; SRV names the endpoint hostnames', () => {
    expect(data('db.shop.svc.cluster.local.')).toEqual(['10.244.1.10']);
    expect(data('cache.shop.svc.cluster.local.').sort()).toEqual(['10.244.1.10', '10.244.1.11']);
    expect(data('_pg._tcp.db.shop.svc.cluster.local.', 'SRV')).toEqual(['0 100 5432 db-0.db.shop.svc.cluster.local.']);
    expect(data('db-0.db.shop.svc.cluster.local.')).toEqual(['10.244.1.10']);
    expect(dns.query('db-1.db.shop.svc.cluster.local.').rcode).toBe('NXDOMAIN');
  });

  it('ExternalName is a CNAME (and SRV has none)', () => {
    expect(dns.query('ext.shop.svc.cluster.local.', 'A').answer).toEqual([{ name: 'ext.shop.svc.cluster.local.', type: 'CNAME', ttl: 30, data: 'api.example.com.' }]);
    expect(data('ext.shop.svc.cluster.local.', 'CNAME')).toEqual(['api.example.com.']);
    expect(dns.query('ext.shop.svc.cluster.local.', 'SRV')).toMatchObject({ rcode: 'NOERROR', answer: [] });
  });

  it('pod A records by pods mode', () => {
    expect(data('10-244-1-5.shop.pod.cluster.local.')).toEqual(['10.244.1.5']);
    expect(data('10-9-9-9.shop.pod.cluster.local.')).toEqual(['10.9.9.9']); // insecure: any address
    const verified = new ClusterDns(model(), { pods: 'verified' });
    expect(verified.query('10-244-1-5.shop.pod.cluster.local.').answer.map((a) => a.data)).toEqual(['10.244.1.5']);
    expect(verified.query('10-244-1-5.other.pod.cluster.local.').rcode).toBe('NXDOMAIN');
    expect(verified.query('10-9-9-9.shop.pod.cluster.local.').rcode).toBe('NXDOMAIN');
    expect(new ClusterDns(model(), { pods: 'disabled' }).query('10-244-1-5.shop.pod.cluster.local.').rcode).toBe('NXDOMAIN');
  });

  it('endpoint_pod_names names endpoints without hostname by their pod', () => {
    expect(data('_http._tcp.kube-dns.kube-system.svc.cluster.local.', 'SRV')).toEqual([]);
    const plain = dns.query('10-244-1-5.web.shop.svc.cluster.local.');
    expect(plain.answer.map((a) => a.data)).toEqual(['10.244.1.5']);
    const named = new ClusterDns(model(), { endpointPodNames: true });
    expect(named.query('web-a.web.shop.svc.cluster.local.').answer.map((a) => a.data)).toEqual(['10.244.1.5']);
    expect(named.query('1.1.244.10.in-addr.arpa.', 'PTR').rcode).toBe('NXDOMAIN');
    expect(named.query('5.1.244.10.in-addr.arpa.', 'PTR').answer.map((a) => a.data)).toEqual(['web-a.web.shop.svc.cluster.local.']);
  });

  it('PTR for a service, an endpoint, and NXDOMAIN for an address nothing has', () => {
    expect(data(reverseName('10.96.0.20'), 'PTR')).toEqual(['web.shop.svc.cluster.local.']);
    expect(data('10.1.244.10.in-addr.arpa.', 'PTR')).toEqual(['10-244-1-10.cache.shop.svc.cluster.local.', 'db-0.db.shop.svc.cluster.local.']) // an endpoint of two Services; hostname only where the subdomain is the Service;
    expect(data('5.1.244.10.in-addr.arpa.', 'PTR')).toEqual(['10-244-1-5.web.shop.svc.cluster.local.']);
    expect(dns.query('9.9.9.10.in-addr.arpa.', 'PTR').rcode).toBe('NXDOMAIN');
    expect(dns.query('20.0.96.10.in-addr.arpa.', 'A').rcode).toBe('NXDOMAIN');
  });

  it('NXDOMAIN vs NOERROR with no answer as the plugin tells them apart', () => {
    const rc = (n: string, t: Parameters<ClusterDns['query']>[1] = 'A') => [dns.query(n, t).rcode, dns.query(n, t).answer.length];
    expect(rc('cluster.local.')).toEqual(['NOERROR', 0]); // the apex
    expect(rc('svc.cluster.local.')).toEqual(['NOERROR', 0]);
    expect(rc('shop.svc.cluster.local.')).toEqual(['NOERROR', 0]); // a namespace
    expect(rc('nosuch.svc.cluster.local.')).toEqual(['NOERROR', 0]); // every namespace is exposed
    expect(rc('nosuch.shop.svc.cluster.local.')).toEqual(['NXDOMAIN', 0]);
    expect(rc('foo.cluster.local.')).toEqual(['NXDOMAIN', 0]); // neither svc nor pod
    expect(rc('web.shop.svc.cluster.local.', 'AAAA')).toEqual(['NOERROR', 0]); // exists, no IPv6
    expect(rc('web.shop.svc.cluster.local.', 'TXT')).toEqual(['NOERROR', 0]);
    expect(rc('web.shop.svc.cluster.local.', 'PTR')).toEqual(['NOERROR', 0]);
    expect(rc('empty.shop.svc.cluster.local.')).toEqual(['NXDOMAIN', 0]); // a headless service without ready endpoints
    expect(rc('a.b.c.web.shop.svc.cluster.local.')).toEqual(['NXDOMAIN', 0]);
    expect(rc('example.com.')).toEqual(['REFUSED', 0]);
  });

  it('dns-version TXT, NS naming the kube-dns Service, SOA', () => {
    expect(dns.query('dns-version.cluster.local.', 'TXT').answer).toEqual([{ name: 'dns-version.cluster.local.', type: 'TXT', ttl: 28800, data: '1.1.0' }]);
    const ns = dns.query('cluster.local.', 'NS');
    expect(ns.answer).toEqual([{ name: 'cluster.local.', type: 'NS', ttl: 30, data: 'kube-dns.kube-system.svc.cluster.local.' }]);
    expect(ns.extra.map((e) => e.data)).toEqual(['10.96.0.10']);
    expect(data('cluster.local.', 'SOA')).toEqual(['ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30']);
    const other = new ClusterDns(model(), { clusterDomain: 'k8s.test', ttl: 5 });
    expect(other.query('web.shop.svc.k8s.test.').answer).toEqual([{ name: 'web.shop.svc.k8s.test.', type: 'A', ttl: 5, data: '10.96.0.20' }]);
  });
});

describe('the stub resolver', () => {
  const m = model();
  const pod = (name: string) => m.pods.find((p) => p.name === name)!;
  it('resolv.conf per dnsPolicy', () => {
    expect(resolvConf(pod('client'), m)).toEqual({ nameservers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 });
    expect(resolvConf(pod('custom'), m)).toEqual({ nameservers: ['10.96.0.10'], searches: ['corp.example'], ndots: 2 });
    expect(resolvConf(pod('hostpod'), m)).toEqual({ nameservers: ['node'], searches: [], ndots: 1 });
    expect(resolvConf({ ...pod('hostpod'), dnsPolicy: 'ClusterFirstWithHostNet' }, m).nameservers).toEqual(['10.96.0.10']);
  });
  it('search expansion: fewer than ndots dots searched first, 5 dots as is first, absolute names alone', () => {
    const conf = resolvConf(pod('client'), m);
    expect(candidates('web', conf)).toEqual(['web.shop.svc.cluster.local.', 'web.svc.cluster.local.', 'web.cluster.local.', 'web.']);
    expect(candidates('a.b.c.d.e', conf)[0]).toBe('a.b.c.d.e.shop.svc.cluster.local.'); // 4 dots
    expect(candidates('a.b.c.d.e.f', conf)[0]).toBe('a.b.c.d.e.f.'); // 5 dots
    expect(candidates('web.shop.svc.cluster.local.', conf)).toEqual(['web.shop.svc.cluster.local.']);
  });
  it('counts the queries a lookup costs', () => {
    const conf = resolvConf(pod('client'), m), ip = clusterDnsIP(m);
    expect(resolveAsPod(dns, conf, 'web', 'A', ip)).toMatchObject({ rcode: 'NOERROR', tried: ['web.shop.svc.cluster.local.'] });
    expect(resolveAsPod(dns, conf, 'web.shop', 'A', ip).tried).toEqual(['web.shop.shop.svc.cluster.local.', 'web.shop.svc.cluster.local.']);
    // 4 dots: the search list first; the name as is answers third
    const r = resolveAsPod(dns, conf, 'web.shop.svc.cluster.local', 'A', ip);
    expect(r.tried).toHaveLength(4);
    expect(r.answer[0]!.data).toBe('10.96.0.20');
    const miss = resolveAsPod(dns, conf, 'nosuch', 'A', ip);
    expect(miss.tried).toHaveLength(4);
    expect(miss.rcode).toBe('REFUSED'); // "nosuch." leaves the cluster zone: no upstream emulated
  });
});

describe('wire format', () => {
  it('round trip: a query encoded, answered, decoded', () => {
    const res = decodeResponse(answerWire(dns, encodeQuery('_http._tcp.web.shop.svc.cluster.local', 'SRV', 4242)));
    expect(res).toMatchObject({ id: 4242, rcode: 'NOERROR' });
    expect(res.answer).toEqual(dns.query('_http._tcp.web.shop.svc.cluster.local.', 'SRV').answer);
    expect(res.extra).toEqual(dns.query('_http._tcp.web.shop.svc.cluster.local.', 'SRV').extra);
    const nx = decodeResponse(answerWire(dns, encodeQuery('nosuch.shop.svc.cluster.local', 'A', 7)));
    expect(nx).toMatchObject({ id: 7, rcode: 'NXDOMAIN', answer: [] });
    expect(nx.authority[0]!.type).toBe('SOA');
    for (const [n, t] of [['dns-version.cluster.local', 'TXT'], ['cluster.local', 'SOA'], ['20.0.96.10.in-addr.arpa', 'PTR'], ['ext.shop.svc.cluster.local', 'A']] as const) {
      expect(decodeResponse(answerWire(dns, encodeQuery(n, t))).answer).toEqual(dns.query(n, t).answer);
    }
  });
  it('a malformed query gets FORMERR, not an exception', () => {
    expect(decodeResponse(answerWire(dns, new Uint8Array([1, 2, 3, 4, 5]))).rcode).toBe('FORMERR');
  });
});

describe('dpemu dns', () => {
  it('one record per line, bad lines as error records, the stream going on', async () => {
    const out: string[] = [];
    const lines = ['{"name":"web.shop.svc.cluster.local."}', 'nope', '{"name":"web","client":"10.244.1.20","type":"a"}', '{"name":"x","type":"MX"}', '{"name":"web","client":"1.2.3.4"}'];
    const { errors } = await dnsStream(model(), {}, Readable.from(lines.join('\n')), (s) => { out.push(s); });
    const recs = out.map((s) => JSON.parse(s));
    expect(errors).toBe(3);
    expect(recs[0]).toEqual({ name: 'web.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answer: [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }], extra: [], tried: [] });
    expect(recs[1]).toMatchObject({ line: 2 });
    expect(recs[2]).toMatchObject({ name: 'web.shop.svc.cluster.local.', rcode: 'NOERROR', tried: ['web.shop.svc.cluster.local.'] });
    expect(recs[3].error).toMatch(/type/);
    expect(recs[4].error).toMatch(/no pod has address 1.2.3.4/);
  });
  it('the command on examples/shop, and a bad cluster exits non-zero', () => {
    const run = (args: string[], input: string) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'dns', ...args], { input, encoding: 'utf8', timeout: 60_000 });
    const ok = run(['--cluster', 'examples/shop', '--ttl', '7'], '{"name":"kube-dns.kube-system.svc.cluster.local.","type":"A"}\n');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout.trim()).answer).toEqual([{ name: 'kube-dns.kube-system.svc.cluster.local.', type: 'A', ttl: 7, data: '10.96.0.10' }]);
    const bad = run(['--cluster', 'does-not-exist.yaml'], '');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/does-not-exist/);
  });
});

describe('dual-stack: IPv6 cluster IPs and IPv6 EndpointSlices answer AAAA and PTR', () => {
  const DUAL = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20, "fd00:10:96::20"], ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack, ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { clusterIP: None, ports: [{ name: pg, port: 5432 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-v6, namespace: shop, labels: { kubernetes.io/service-name: db } }
addressType: IPv6
endpoints: [{ addresses: ["FD00:10:244:1:0:0:0:a"], hostname: db-0 }]
ports: [{ name: pg, port: 5432, protocol: TCP }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-v4, namespace: shop, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
endpoints: [{ addresses: [10.244.1.10], hostname: db-0 }]
ports: [{ name: pg, port: 5432, protocol: TCP }]
`;
  const m = loadManifests([{ path: 'dual.yaml', text: DUAL }]).model;
  const d = new ClusterDns(m);
  it('is in the model without reaching the dataplane\'s lists', () => {
    const web = m.services.find((s) => s.name === 'web')!;
    expect(web.clusterIPs).toEqual(['10.96.0.20']);
    expect(web.ipv6ClusterIPs).toEqual(['fd00:10:96::20']);
    expect(m.endpointSlices.map((s) => s.name)).toEqual(['db-v4']);
    expect(m.ipv6EndpointSlices!.map((s) => s.endpoints[0]!.addresses)).toEqual([['fd00:10:244:1::a']]);
  });
  it('A and AAAA per family, PTR in ip6.arpa, SRV with both addresses', () => {
    expect(d.query('web.shop.svc.cluster.local.', 'A').answer.map((a) => a.data)).toEqual(['10.96.0.20']);
    expect(d.query('web.shop.svc.cluster.local.', 'AAAA').answer.map((a) => a.data)).toEqual(['fd00:10:96::20']);
    expect(d.query('db.shop.svc.cluster.local.', 'AAAA').answer.map((a) => a.data)).toEqual(['fd00:10:244:1::a']);
    expect(d.query('db-0.db.shop.svc.cluster.local.', 'AAAA').answer.map((a) => a.data)).toEqual(['fd00:10:244:1::a']);
    expect(reverseName('fd00:10:96::20')).toBe('0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.');
    expect(d.query(reverseName('fd00:10:96::20'), 'PTR').answer.map((a) => a.data)).toEqual(['web.shop.svc.cluster.local.']);
    expect(d.query(reverseName('fd00:10:244:1::a'), 'PTR').answer.map((a) => a.data)).toEqual(['db-0.db.shop.svc.cluster.local.']);
    expect(d.query(reverseName('fd00::1'), 'PTR').rcode).toBe('NXDOMAIN');
    expect(d.query('fd00-10-244-1--a.shop.pod.cluster.local.', 'AAAA').answer.map((a) => a.data)).toEqual(['fd00:10:244:1::a']);
    const srv = d.query('_pg._tcp.db.shop.svc.cluster.local.', 'SRV');
    expect(srv.answer.map((a) => a.data)).toEqual(['0 50 5432 db-0.db.shop.svc.cluster.local.']);
    expect(srv.extra.map((a) => `${a.type} ${a.data}`).sort()).toEqual(['A 10.244.1.10', 'AAAA fd00:10:244:1::a']);
    const wire = decodeResponse(answerWire(d, encodeQuery('web.shop.svc.cluster.local', 'AAAA')));
    expect(wire.answer.map((a) => a.data)).toEqual(['fd00:10:96::20']);
  });
});
