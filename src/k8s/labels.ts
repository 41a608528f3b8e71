// Label selectors (apimachinery's metav1.LabelSelector): the type, its matcher and how it is written in
// messages. A leaf module of the model layer, so the cluster, policy and north-south code match selectors
// without importing the manifest parser (which reads them: parse.ts parseLabelSelector).

import { byCodeUnits, sortSmall } from '../common/sort.js';

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }[];
}

export function labelSelectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  const m = sel.matchLabels;
  for (const k in m) if (labels[k] !== m[k]) return false; // (for-in: no array per call; a compile matches millions)
  for (const e of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(labels[e.key])) return false; break;
      case 'NotIn': if (has && e.values.includes(labels[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

/**
 * A label set as a key: equal keys for equal sets, whatever order the labels were written in. Each key
 * and value is written with its length in front (`3:app=5:web-1;`), so no key or value, whatever it
 * holds, can be mistaken for a separator (a compile makes one per pod: cheaper than JSON).
 */
export const labelsKey = (l: Record<string, string>): string => {
  const keys = Object.keys(l);
  if (keys.length > 1) sortSmall(keys, byCodeUnits);
  let out = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i], v = l[k];
    out += `${k.length}:${k}=${v.length}:${v};`;
  }
  return out;
};

export function formatLabels(l: Record<string, string>): string {
  const e = Object.entries(l);
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

export function formatSelector(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions) {
    parts.push(e.operator === 'Exists' ? e.key : e.operator === 'DoesNotExist' ? `!${e.key}` : `${e.key} ${e.operator.toLowerCase()} (${e.values.join(',')})`);
  }
  return parts.join(',');
}
