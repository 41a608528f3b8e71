// RegularExpression matches (HTTPPathMatch, HTTPHeaderMatch, HTTPQueryParamMatch), compiled for the core.
//
// The Gateway API leaves the regular expression dialect to the implementation ("Support: Implementation-
// specific"; Envoy-based implementations use RE2). dpemu takes the syntax where RE2 and ECMAScript (the `u`
// flag) read a pattern the same way, and matches it against the whole value (as RE2's FullMatch):
//
//   literals (any code point but the syntax characters ^ $ \ . * + ? ( ) [ ] { } |), `.`, classes [a-z_]
//   and [^...] (ranges, \d \w \s \D \W \S, \t \n \r \f \v, escaped syntax characters, "-"), groups (...)
//   and (?:...), alternation |, quantifiers * + ? {n} {n,} {n,m} (m <= 1000) and their lazy forms
//   (laziness changes nothing for a whole-value match), \d \w \s and their negations, escaped syntax
//   characters and "/", `^` as the first and `$` as the last character.
//
// Outside the subset (backreferences, lookaround, \b, named groups, flags, \x \u \p escapes, a `{` that is
// not a quantifier, a class starting with "]" ...) a match is reported by `dpemu check` and never matches,
// on both backends. Where RE2 and ECMAScript differ inside the subset, ECMAScript is the rule: `.` matches
// any code point but \n \r U+2028 U+2029 (RE2: all but \n) and \s is ECMAScript's white space (RE2: ASCII).
//
// The control plane compiles a pattern (parse -> Thompson NFA over code point sets -> subset construction)
// to a DFA over equivalence classes of code points; the core runs it (assembly/http.ts dfaMatches). The
// DFA's layout is drawn once, at DFA_LAYOUT below.

export type Ranges = [number, number][]; // sorted, disjoint, inclusive code point ranges

type Node =
  | { t: 'set'; set: Ranges }
  | { t: 'cat'; xs: Node[] }
  | { t: 'alt'; xs: Node[] }
  | { t: 'rep'; x: Node; min: number; max: number } // max -1: unbounded
  | { t: 'empty' };

export class RegexUnsupported extends Error {}

const MAX_CP = 0x10ffff;
const MAX_REPEAT = 1000; // RE2's limit
const MAX_NFA_STATES = 20000;
const MAX_DFA_STATES = 2000;
const MAX_CLASSES = 255;

const norm = (rs: Ranges): Ranges => {
  const s = rs.filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
};
const negate = (rs: Ranges): Ranges => {
  const out: Ranges = [];
  let at = 0;
  for (const [a, b] of norm(rs)) { if (a > at) out.push([at, a - 1]); at = b + 1; }
  if (at <= MAX_CP) out.push([at, MAX_CP]);
  return out;
};
const cp = (c: string): Ranges => [[c.codePointAt(0)!, c.codePointAt(0)!]];

const DIGIT: Ranges = [[0x30, 0x39]];
const WORD: Ranges = norm([[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]]);
/** ECMAScript WhiteSpace and LineTerminator (\s). */
const SPACE: Ranges = norm([[9, 13], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029],
  [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]]);
/** ECMAScript `.` without the s flag: every code point but the line terminators. */
const DOT: Ranges = negate([[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]]);
const SYNTAX = '^$\\.*+?()[]{}|';
const CONTROL: Record<string, number> = { t: 9, n: 10, r: 13, f: 12, v: 11 };

/** Parse a pattern of the subset; throws RegexUnsupported naming what is outside it. */
export function parseRegex(src: string): Node {
  const chars = Array.from(src); // code points
  let i = 0;
  const fail = (what: string): never => { throw new RegexUnsupported(`${what} at offset ${i}`); };
  const peek = () => chars[i];

  function escape(inClass: boolean): { set: Ranges; isClass: boolean } {
    i++; // the backslash
    const c = chars[i++];
    if (c === undefined) fail('a trailing backslash');
    switch (c) {
      case 'd': return { set: DIGIT, isClass: true };
      case 'D': return { set: negate(DIGIT), isClass: true };
      case 'w': return { set: WORD, isClass: true };
      case 'W': return { set: negate(WORD), isClass: true };
      case 's': return { set: SPACE, isClass: true };
      case 'S': return { set: negate(SPACE), isClass: true };
    }
    if (CONTROL[c] !== undefined) return { set: [[CONTROL[c], CONTROL[c]]], isClass: false };
    if (SYNTAX.includes(c) || c === '/' || (inClass && c === '-')) return { set: cp(c), isClass: false };
    if (/[1-9]/.test(c)) fail('a backreference');
    if (c === 'b' || c === 'B') fail('a word boundary');
    return fail(`the escape \\${c}`);
  }

  function klass(): Ranges {
    i++; // [
    let neg = false;
    if (peek() === '^') { neg = true; i++; }
    if (peek() === ']') fail(neg ? 'the class [^]' : 'a class starting with "]"'); // RE2 and ECMAScript read these differently
    const parts: Ranges = [];
    let afterRange = false;
    for (;;) {
      const c = peek();
      if (c === undefined) fail('an unterminated class');
      if (c === ']') { i++; break; }
      if (c === '[') fail('"[" inside a class');
      if (c === '-' && afterRange && chars[i + 1] !== ']') fail('a "-" right after a range');
      const a = c === '\\' ? escape(true) : (i++, { set: cp(c), isClass: false });
      afterRange = false;
      if (peek() === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
        i++;
        if (peek() === '[') fail('"[" inside a class');
        const b = peek() === '\\' ? escape(true) : (i++, { set: cp(chars[i - 1]), isClass: false });
        if (a.isClass || b.isClass) fail('a range with a class escape as an end');
        if (a.set[0][0] > b.set[0][0]) fail('a range out of order');
        parts.push([a.set[0][0], b.set[0][0]]);
        afterRange = true;
      } else parts.push(...a.set);
    }
    return neg ? negate(parts) : norm(parts);
  }

  function atom(): Node {
    const c = peek();
    if (c === '(') {
      i++;
      if (peek() === '?') { if (chars[i + 1] === ':') i += 2; else fail('a group with "(?" other than "(?:"'); }
      const x = alt();
      if (peek() !== ')') fail('an unbalanced "("');
      i++;
      return x;
    }
    if (c === '[') return { t: 'set', set: klass() };
    if (c === '.') { i++; return { t: 'set', set: DOT }; }
    if (c === '\\') return { t: 'set', set: escape(false).set };
    if (c === '^') { if (i !== 0) fail('"^" not at the start'); i++; return { t: 'empty' }; }
    if (c === '$') { if (i !== chars.length - 1) fail('"$" not at the end'); i++; return { t: 'empty' }; }
    if (c === ')' ) fail('an unbalanced ")"');
    if ('*+?{'.includes(c)) fail(`a quantifier "${c}" with nothing to repeat`);
    if (c === ']' || c === '}') fail(`a lone "${c}"`);
    i++;
    return { t: 'set', set: cp(c) };
  }

  function quantified(): Node {
    const anchor = peek() === '^' || peek() === '$';
    let x = atom();
    const q = peek();
    let min = -1, max = -1;
    if (q === '*') { min = 0; max = -1; i++; }
    else if (q === '+') { min = 1; max = -1; i++; }
    else if (q === '?') { min = 0; max = 1; i++; }
    else if (q === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(chars.slice(i).join(''));
      if (!m) fail('a "{" that is not a quantifier {n}, {n,} or {n,m}');
      min = Number(m![1]); max = m![2] === undefined ? min : m![3] === '' ? -1 : Number(m![3]);
      if (min > MAX_REPEAT || max > MAX_REPEAT) fail(`a repeat count over ${MAX_REPEAT}`);
      if (max >= 0 && max < min) fail('a quantifier {n,m} with m < n');
      i += m![0].length;
    } else return x;
    if (anchor) fail('a quantified anchor');
    if (peek() === '?') i++; // lazy: the same set of whole matches
    if (peek() !== undefined && '*+?{'.includes(peek())) fail('a repeated quantifier');
    x = { t: 'rep', x, min, max };
    return x;
  }

  function concat(): Node {
    const xs: Node[] = [];
    while (i < chars.length && peek() !== '|' && peek() !== ')') xs.push(quantified());
    return xs.length === 1 ? xs[0] : { t: 'cat', xs };
  }

  function alt(): Node {
    const xs = [concat()];
    while (peek() === '|') { i++; xs.push(concat()); }
    return xs.length === 1 ? xs[0] : { t: 'alt', xs };
  }

  const node = alt();
  if (i < chars.length) fail('an unbalanced ")"');
  return node;
}

// ---- NFA (Thompson) --------------------------------------------------------------------------------

interface Nfa { eps: number[][]; edges: { set: number; to: number }[][]; sets: Ranges[] }

function buildNfa(root: Node): { nfa: Nfa; start: number; accept: number } {
  const nfa: Nfa = { eps: [], edges: [], sets: [] };
  const setIds = new Map<string, number>();
  const state = () => {
    if (nfa.eps.length >= MAX_NFA_STATES) throw new RegexUnsupported('too large once repeats are expanded');
    nfa.eps.push([]); nfa.edges.push([]);
    return nfa.eps.length - 1;
  };
  const setId = (s: Ranges) => {
    const k = JSON.stringify(s);
    let id = setIds.get(k);
    if (id === undefined) { id = nfa.sets.length; nfa.sets.push(s); setIds.set(k, id); }
    return id;
  };
  // Each fragment: from state `a` to state `b`.
  function frag(n: Node, a: number, b: number): void {
    switch (n.t) {
      case 'empty': nfa.eps[a].push(b); return;
      case 'set': nfa.edges[a].push({ set: setId(n.set), to: b }); return;
      case 'alt': for (const x of n.xs) frag(x, a, b); return;
      case 'cat': {
        let at = a;
        n.xs.forEach((x, k) => { const next = k === n.xs.length - 1 ? b : state(); frag(x, at, next); at = next; });
        if (!n.xs.length) nfa.eps[a].push(b);
        return;
      }
      case 'rep': {
        let at = a;
        for (let k = 0; k < n.min; k++) { const next = state(); frag(n.x, at, next); at = next; }
        if (n.max < 0) {
          const loop = state();
          nfa.eps[at].push(loop);
          const back = state();
          frag(n.x, loop, back);
          nfa.eps[back].push(loop);
          nfa.eps[loop].push(b);
        } else {
          for (let k = n.min; k < n.max; k++) { nfa.eps[at].push(b); const next = state(); frag(n.x, at, next); at = next; }
          nfa.eps[at].push(b);
        }
      }
    }
  }
  const start = state(), accept = state();
  frag(root, start, accept);
  return { nfa, start, accept };
}

// ---- DFA ---------------------------------------------------------------------------------------------

/**
 * DFA_LAYOUT (u32 words, byte offsets from the DFA's own start):
 *   [0 nStates, 1 nClasses, 2 nRanges, 3 start state, 4 transOff, 5 acceptOff, 6 pad, 7 pad]
 *   +32   class of each ASCII code point: 128 bytes
 *   +160  ranges for code points >= 128: nRanges x [lo, hi, class], sorted, covering 128..0x10FFFF
 *   transOff  next state: nStates x nClasses u16 (state 0 is the dead state)
 *   acceptOff 1 byte per state: 1 when accepting
 */
export function compileRegex(pattern: string): Uint8Array {
  const { nfa, start, accept } = buildNfa(parseRegex(pattern));
  // Equivalence classes: code points no set tells apart share a class.
  const cuts = new Set<number>([0, 128, MAX_CP + 1]);
  for (const s of nfa.sets) for (const [a, b] of s) { cuts.add(a); cuts.add(b + 1); }
  const points = [...cuts].sort((x, y) => x - y);
  const pieces: { lo: number; hi: number; cls: number }[] = [];
  const sig = new Map<string, number>();
  const classSets: number[][] = []; // class -> the set ids containing it
  for (let k = 0; k + 1 < points.length; k++) {
    const lo = points[k], hi = points[k + 1] - 1;
    const member = nfa.sets.map((s, id) => (s.some(([a, b]) => a <= lo && lo <= b) ? id : -1)).filter((x) => x >= 0);
    const key = member.join(',');
    let cls = sig.get(key);
    if (cls === undefined) { cls = classSets.length; classSets.push(member); sig.set(key, cls); }
    pieces.push({ lo, hi, cls });
  }
  if (classSets.length > MAX_CLASSES) throw new RegexUnsupported(`more than ${MAX_CLASSES} character classes`);
  const nC = classSets.length;

  const closure = (states: number[]): number[] => {
    const seen = new Set(states);
    const stack = [...states];
    while (stack.length) { const s = stack.pop()!; for (const t of nfa.eps[s]) if (!seen.has(t)) { seen.add(t); stack.push(t); } }
    return [...seen].sort((x, y) => x - y);
  };
  const ids = new Map<string, number>([['', 0]]);
  const sets: number[][] = [[]];
  const trans: number[][] = [new Array(nC).fill(0)];
  const intern = (s: number[]) => {
    const k = s.join(',');
    let id = ids.get(k);
    if (id === undefined) {
      if (sets.length >= MAX_DFA_STATES) throw new RegexUnsupported(`more than ${MAX_DFA_STATES} automaton states`);
      id = sets.length; ids.set(k, id); sets.push(s); trans.push(new Array(nC).fill(0));
    }
    return id;
  };
  const startId = intern(closure([start]));
  for (let d = 1; d < sets.length; d++) {
    for (let c = 0; c < nC; c++) {
      const inSet = new Set(classSets[c]);
      const next: number[] = [];
      for (const s of sets[d]) for (const e of nfa.edges[s]) if (inSet.has(e.set)) next.push(e.to);
      trans[d][c] = next.length ? intern(closure(next)) : 0;
    }
  }
  const high = pieces.filter((p) => p.lo >= 128);
  const transOff = 160 + high.length * 12;
  const acceptOff = transOff + ((sets.length * nC * 2 + 3) & ~3);
  const bytes = new Uint8Array((acceptOff + sets.length + 3) & ~3);
  const dv = new DataView(bytes.buffer);
  [sets.length, nC, high.length, startId, transOff, acceptOff].forEach((x, k) => dv.setUint32(k * 4, x, true));
  for (const p of pieces) for (let c = p.lo; c <= Math.min(p.hi, 127); c++) bytes[32 + c] = p.cls;
  high.forEach((p, k) => [p.lo, p.hi, p.cls].forEach((x, j) => dv.setUint32(160 + k * 12 + j * 4, x, true)));
  trans.forEach((row, s) => row.forEach((t, c) => dv.setUint16(transOff + (s * nC + c) * 2, t, true)));
  sets.forEach((s, d) => { bytes[acceptOff + d] = s.includes(accept) ? 1 : 0; });
  return bytes;
}

const verdicts = new Map<string, { dfa?: Uint8Array; reason?: string; re?: RegExp }>();
function verdict(pattern: string) {
  let v = verdicts.get(pattern);
  if (!v) {
    try { v = { dfa: compileRegex(pattern) }; } catch (e) {
      if (!(e instanceof RegexUnsupported)) throw e;
      v = { reason: e.message };
    }
    if (verdicts.size > 10000) verdicts.clear();
    verdicts.set(pattern, v);
  }
  return v;
}

/** Why a pattern is outside the supported subset, or undefined when it is inside. */
export function regexUnsupported(pattern: string): string | undefined { return verdict(pattern).reason; }

/** The compiled DFA of a supported pattern (DFA_LAYOUT), or undefined. */
export function regexDfa(pattern: string): Uint8Array | undefined { return verdict(pattern).dfa; }

/**
 * The reference's whole-value match: ECMAScript's own engine (u flag) for a pattern inside the subset, no
 * match outside it. The core's DFA is held to this by the differential tests.
 */
export function regexFullMatch(pattern: string, value: string): boolean {
  const v = verdict(pattern);
  if (v.reason !== undefined) return false;
  v.re ??= new RegExp(`^(?:${pattern})$`, 'u');
  return v.re.test(value);
}
