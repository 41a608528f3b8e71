// kube-proxy's chain names (pkg/proxy/iptables/proxier.go): a service port's chains are
// prefix + the first 16 characters of base32(sha256(servicePortName + protocol)), an
// endpoint's chain hashes the endpoint ("ip:port") in too; protocol is lower case.
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'; // RFC 4648, as Go's base32.StdEncoding

/** The first 16 characters of the standard base32 encoding of sha256(text) (80 bits = 10 bytes). */
export function hash16(text: string): string {
  const h = createHash('sha256').update(text).digest();
  let out = '', bits = 0, value = 0;
  for (let i = 0; i < 10; i++) {
    value = (value << 8) | h[i]; bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
    value &= (1 << bits) - 1;
  }
  return out;
}

/** ServicePortName.String(): "ns/name" plus ":port" when the port is named. */
export function servicePortName(ns: string, name: string, port: string): string {
  return `${ns}/${name}${port ? `:${port}` : ''}`;
}

export const svcChain = (spn: string, proto: string) => `KUBE-SVC-${hash16(spn + proto)}`;
export const svlChain = (spn: string, proto: string) => `KUBE-SVL-${hash16(spn + proto)}`;
export const extChain = (spn: string, proto: string) => `KUBE-EXT-${hash16(spn + proto)}`;
export const fwChain = (spn: string, proto: string) => `KUBE-FW-${hash16(spn + proto)}`;
export const sepChain = (spn: string, proto: string, endpoint: string) => `KUBE-SEP-${hash16(spn + proto + endpoint)}`;

/** kube-proxy's probability(n): fmt.Sprintf("%0.10f", 1.0/float64(n)). */
export function probability(n: number): string { return (1 / n).toFixed(10); }
