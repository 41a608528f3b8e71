// Manifests read by js-yaml (the fast path, src/k8s/yaml-fast.ts) must give exactly the values the `yaml`
// package gives them (the YAML 1.2 core schema dpemu has always read manifests with), or be left to `yaml`.
// Random Kubernetes-like documents written in many YAML styles, and plain scalars that look like numbers,
// booleans, nulls and dates, are read both ways.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { fastYamlDocuments } from '../../src/k8s/yaml-fast.js';
import { yamlDocuments, yamlDocumentsFully, loadManifests } from '../../src/k8s/load.js';

/** Both ways; the fast way may decline (undefined). Empty documents are null one way and undefined the other. */
function both(text: string): { fast: unknown[] | undefined; full: unknown[] | undefined; error?: string } {
  let full: unknown[] | undefined;
  let error: string | undefined;
  try { full = yamlDocumentsFully({ path: 't.yaml', text }).map((v) => (v === undefined ? null : v)); } catch (e) { error = (e as Error).message; }
  return { fast: fastYamlDocuments(text), full, error };
}

// Plain scalars YAML 1.1 and 1.2 read differently, numbers in every form, and strings that only look special.
const TOKENS = ['0755', '1e3', '1E3', '0x1F', '0X1F', '0o17', '0O17', '0b101', '1_000', '+12', '-12', '-0', '+0', '00', '.5', '5.', '-.5e-3',
  '+.5', '1.5e+10', '.inf', '-.Inf', '+.INF', '.NaN', '.nan', 'NaN', 'inf', 'yes', 'no', 'Yes', 'NO', 'on', 'off', 'y', 'n', '~', 'null',
  'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRue', 'false', 'False', 'FALSE', '2024-01-01', '2024-01-01T00:00:00Z', '12:30',
  '1:20:30', '0.', '0x', '0o8', '1e', '-', '--', '10.244.1.5', '1.2.3', '8080', '65536', '9007199254740993', '1e400', 'a b', 'x:y',
  'http://x', 'a#b', "it's", '€', 'ä1', 'k8s.io/name', '""', "''"];

const key = fc.constantFrom('name', 'namespace', 'app', 'port', 'targetPort', 'protocol', 'value', 'x-y', 'a.b/c', 'replicas', 'enabled', 'on', 'yes', '1', 'null-ish');
const scalar = fc.oneof(
  fc.constantFrom(...TOKENS),
  fc.string({ maxLength: 12 }),
  fc.integer(), fc.double({ noNaN: false }), fc.boolean(), fc.constant(null),
  fc.string({ maxLength: 30 }).map((s) => `${s}\n${s}  \n`), // multi-line: block scalars
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(key, tie('v'), { maxKeys: 4 })),
})).v;
const manifest = fc.record({
  apiVersion: fc.constantFrom('v1', 'apps/v1'), kind: fc.constantFrom('Service', 'ConfigMap', 'Deployment'),
  metadata: fc.record({ name: fc.string({ minLength: 1, maxLength: 10 }), labels: fc.dictionary(key, fc.constantFrom(...TOKENS), { maxKeys: 3 }) }),
  spec: fc.dictionary(key, value, { maxKeys: 5 }),
});
const style = fc.record({
  flow: fc.boolean(), quotes: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'), block: fc.constantFrom<string | false>('literal', 'folded', false),
  indent: fc.constantFrom(2, 4), lineWidth: fc.constantFrom(0, 20, 80), docs: fc.constantFrom('---', '--- # c\n', '...\n---'),
  comments: fc.boolean(), trailing: fc.constantFrom('', '---\n', '\n\n'),
});

type Style = { flow: boolean; quotes: string; block: string | false; indent: number; lineWidth: number; docs: string; comments: boolean; trailing: string };
function render(docs: unknown[], o: Style): string {
  const text = docs.map((d) => stringify(d, {
    collectionStyle: o.flow ? 'flow' : 'any', defaultStringType: o.quotes as 'PLAIN', defaultKeyType: 'PLAIN',
    blockQuote: o.block === false ? false : o.block as 'literal', indent: o.indent, lineWidth: o.lineWidth, version: '1.2',
  })).join(`${o.docs}\n`);
  return (o.comments ? text.replace(/\n/g, ' # note\n').replace(/(\||>)([-+]?) # note\n/g, '$1$2\n') : text) + o.trailing;
}

describe('manifests read fast', () => {
  it('give what the yaml package gives, or are left to it', () => {
    let fastTaken = 0;
    fc.assert(fc.property(fc.array(manifest, { minLength: 1, maxLength: 3 }), style, (docs, s) => {
      const text = render(docs, s);
      const { fast, full, error } = both(text);
      if (fast === undefined) return;
      fastTaken++;
      expect(error, `the yaml package refused what js-yaml read:\n${text}`).toBeUndefined();
      // a trailing empty document: one parser may count it
      const trim = (l: unknown[]) => { const c = [...l]; while (c.length && c[c.length - 1] === null) c.pop(); return c; };
      expect(trim(fast)).toEqual(trim(full!));
    }), { numRuns: 400 });
    expect(fastTaken).toBeGreaterThan(100); // the fast way read most of them
  });

  it('read plain scalars as YAML 1.2 core does: "yes", "0755", dates and the like', () => {
    for (const t of TOKENS) {
      const text = `a: ${t}\nb: [${t}]\n- c: ${t}\n`.replace(/^- c.*\n/m, '');
      const { fast, full, error } = both(text);
      if (fast === undefined) continue;
      expect(error, t).toBeUndefined();
      expect(fast, t).toEqual(full);
    }
    expect(fastYamlDocuments('a: yes\nb: 0755\nc: 2024-01-01\nd: 0o17\ne: 0x1F\nf: 1e3\ng: ~\nh: .inf')).toEqual([
      { a: 'yes', b: 755, c: '2024-01-01', d: 15, e: 31, f: 1000, g: null, h: Infinity },
    ]);
  });

  it('leave to the yaml package what it reads its own way, and every error', () => {
    for (const text of ['a: &x {b: 1}\nc: *x', 'a: !!str 1', '%YAML 1.2\n---\na: 1', '? [a]\n: 1', 'a: {b: 1}\nc:\n  <<: {d: 2}', '~: 1', 'a: 1\na: 2', 'a: [1', '\t- x']) {
      expect(fastYamlDocuments(text), text).toBeUndefined();
    }
    // errors still name the file and document, as before
    expect(() => yamlDocuments({ path: 'bad.yaml', text: 'a: 1\n---\nb: [1' })).toThrow(/bad\.yaml.*document 2|document 2.*bad\.yaml/);
    expect(() => yamlDocuments({ path: 'dup.yaml', text: 'a: 1\na: 2' })).toThrow(/dup\.yaml/);
  });

  it('load a cluster to the same model either way', () => {
    const text = ['apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, labels: {app: "on"}}\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: 8080}',
      'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 192.168.0.2}]}'].join('\n---\n');
    expect(fastYamlDocuments(text)).toBeDefined();
    const viaFast = loadManifests([{ path: 'c.yaml', text }]).model;
    const viaFull = loadManifests([{ path: 'c.yaml', text: '', documents: yamlDocumentsFully({ path: 'c.yaml', text }) }]).model;
    expect(JSON.stringify(viaFast)).toBe(JSON.stringify(viaFull));
  });
});
