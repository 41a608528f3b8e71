// Sorting the short arrays the control plane sorts by the thousand (a pod's labels, its named ports,
// the policy CIDRs containing an address): an insertion sort in place. V8's Array.prototype.sort
// allocates a work area of about a kilobyte on every call, even for two elements; over 10,000 pods
// that garbage was a fifth of a policy compile's allocation. Longer arrays go to Array.prototype.sort.
// Both are stable, so the result is the one `a.sort(cmp)` gives.

const INSERTION_MAX = 16;

/** Sort `a` in place by `cmp` (as `a.sort(cmp)`) and return it. */
export function sortSmall<T>(a: T[], cmp: (x: T, y: T) => number): T[] {
  if (a.length > INSERTION_MAX) return a.sort(cmp);
  for (let i = 1; i < a.length; i++) {
    const x = a[i];
    let j = i - 1;
    for (; j >= 0 && cmp(a[j], x) > 0; j--) a[j + 1] = a[j];
    a[j + 1] = x;
  }
  return a;
}

/** Strings in code-unit order: what `a.sort()` gives for strings. */
export const byCodeUnits = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
