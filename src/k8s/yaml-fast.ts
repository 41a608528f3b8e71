// Manifests as YAML, read fast: js-yaml with a schema that resolves plain scalars exactly as the `yaml`
// package's YAML 1.2 core schema does (what dpemu's loader uses, load.ts yamlDocuments), for the common
// case; anything else is left to `yaml`.
//
// Why two parsers: `yaml` keeps a full document model (positions, comments, errors with line numbers) and
// takes ~5 s for the 7.8 MB manifest of a 5,000-node cluster; js-yaml builds plain values directly, in well
// under a second. The values must be the same, so js-yaml is used only where the two cannot differ:
// - the schema below (null, bool, int, float) copies `yaml`'s core tags: the same patterns, in the same
//   order, the same conversions (parseInt / parseFloat), so "0755", "1e3", "0x1F", "yes", "on" and
//   timestamps resolve alike (yes/on and timestamps are strings in YAML 1.2, not booleans or dates);
// - a text with anything else `yaml` would treat its own way is not given to js-yaml at all: anchors and
//   aliases (`&`, `*`: an object reached twice, and alias bombs), tags (`!`), directives (`%`), complex
//   keys (`? `), merge keys (`<<`);
// - any error js-yaml raises (a syntax error, a duplicate key) sends the text to `yaml`, so errors are
//   reported as before, with their places.
// test/k8s/yaml-fast.test.ts holds the two equal on random manifests written in many styles.

import { loadAll, FAILSAFE_SCHEMA, Type } from 'js-yaml';

const nullType = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
  construct: () => null,
  represent: () => 'null',
});
const boolType = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
  construct: (s: string) => s[0] === 't' || s[0] === 'T',
});
// yaml's int tags in its order: intOct (0o17), int (decimal, signed), intHex (0x1F)
const INT_OCT = /^0o[0-7]+$/, INT_DEC = /^[-+]?[0-9]+$/, INT_HEX = /^0x[0-9a-fA-F]+$/;
const intType = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: string) => INT_OCT.test(s) || INT_DEC.test(s) || INT_HEX.test(s),
  construct: (s: string) => (INT_OCT.test(s) ? parseInt(s.substring(2), 8) : INT_DEC.test(s) ? parseInt(s, 10) : parseInt(s.substring(2), 16)),
});
// yaml's float tags: floatNaN (.inf, .nan), floatExp (1e3), float (1.5, .5)
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
const floatType = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: string) => FLOAT_NAN.test(s) || FLOAT_EXP.test(s) || FLOAT.test(s),
  construct: (s: string) => (FLOAT_NAN.test(s)
    ? (s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY)
    : parseFloat(s)),
});

/** YAML 1.2 core as the `yaml` package resolves it (its tag order: null, bool, int, float). */
const CORE_AS_YAML = FAILSAFE_SCHEMA.extend({ implicit: [nullType, boolType, intType, floatType] });

/**
 * What js-yaml is not given: anchors, aliases, tags, directives, complex keys, merge keys, and null or empty
 * keys (`yaml` makes them "", js-yaml "null").
 */
const NOT_PLAIN = /[&*!]|^%|^\s*\?(?:\s|$)|<<|^[\s-]*(?:~|[Nn]ull|NULL)?:(?:\s|$)/m;

/**
 * The documents of `text` as `yaml` would give them (an empty document as null), or undefined when the
 * text is left to `yaml` (see above).
 */
export function fastYamlDocuments(text: string): unknown[] | undefined {
  if (NOT_PLAIN.test(text)) return undefined;
  try {
    return loadAll(text, undefined, { schema: CORE_AS_YAML });
  } catch {
    return undefined;
  }
}
