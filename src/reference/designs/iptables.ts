// The reference iptables design: KUBE-SVC endpoint choice and the masquerade mark, written the obvious way
// (the rules and their upstream sources: assembly/designs/iptables.ts). The PRNG draws happen in the same
// order as the core's, so both backends choose alike. KUBE-SERVICES itself: src/controlplane/kubeServices.ts.

import { Prng } from '../../common/prng.js';

/** iptables `--probability` of the first of k remaining endpoints, as xt_statistic holds it. */
export function statisticThreshold(k: number): number {
  const p = Math.round(1e10 / k) / 1e10;
  return Math.round(2147483648 * p) >>> 0;
}

/** KUBE-SVC chain: endpoint i is taken with probability 1/(n-i), one draw per rule tried, the last unconditionally. */
export function iptablesPick(prng: Prng, n: number): number {
  for (let i = 0; i + 1 < n; i++) {
    if (((prng.next() & 0x7fffffff) >>> 0) < statisticThreshold(n - i)) return i;
  }
  return n - 1;
}

/** KUBE-MARK-MASQ (0x4000) set by the service and endpoint chains, acted on by KUBE-POSTROUTING. */
export const MARK_MASQ = 0x4000;
export function iptablesMark(masqAll: boolean, masqExternal: boolean, srcIsPod: boolean, saddr: number, backendAddr: number): number {
  let mark = 0;
  if (masqAll || (masqExternal && !srcIsPod)) mark |= MARK_MASQ;
  if (saddr === backendAddr) mark |= MARK_MASQ;
  return mark;
}
