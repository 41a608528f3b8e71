// A reader for the common shape of a `dpemu trace` packet line, without JSON.parse: a flat object whose keys
// are among src, dst, sport, dport, proto, flags, node and t, whose strings need no unescaping and whose
// numbers are plain JSON numbers, e.g. {"src":"10.0.0.1","dst":"10.96.0.10","sport":40000,"dport":80,"flags":"A"}.
// It only reads: anything else (another key, a nested value, an escape, null, a duplicate key, bad JSON) makes
// it answer false, and the line goes the plain way (JSON.parse, then the tracer's checks and error messages),
// so the two ways cannot differ in what a line means (test/trace-scan.test.ts holds them equal on random lines).
// Why: JSON.parse builds an object the tracer reads once and drops; for the short lines of a trace that and
// the field checks over the object cost more than the packet's trip through the core.

/**
 * The fields of a scanned line (undefined: absent), by the type JSON gave them. Strings are kept as where they
 * are in the line (`srcAt`..`srcEnd`, -1 when absent) and sliced only when asked for, so the tracer can read
 * addresses, flags and node names in place without a string per field.
 */
export class ScannedLine {
  text = '';
  srcAt = -1; srcEnd = -1; dstAt = -1; dstEnd = -1; protoAt = -1; protoEnd = -1;
  flagsAt = -1; flagsEnd = -1; nodeAt = -1; nodeEnd = -1;
  sport: number | undefined = undefined; dport: number | undefined = undefined; t: number | undefined = undefined;
  get src(): string | undefined { return this.srcAt < 0 ? undefined : this.text.slice(this.srcAt, this.srcEnd); }
  get dst(): string | undefined { return this.dstAt < 0 ? undefined : this.text.slice(this.dstAt, this.dstEnd); }
  get proto(): string | undefined { return this.protoAt < 0 ? undefined : this.text.slice(this.protoAt, this.protoEnd); }
  get flags(): string | undefined { return this.flagsAt < 0 ? undefined : this.text.slice(this.flagsAt, this.flagsEnd); }
  get node(): string | undefined { return this.nodeAt < 0 ? undefined : this.text.slice(this.nodeAt, this.nodeEnd); }
}

export function newScannedLine(): ScannedLine {
  return new ScannedLine();
}

const QUOTE = 34, BACKSLASH = 92, COMMA = 44, COLON = 58, OPEN = 123, CLOSE = 125, MINUS = 45, PLUS = 43, DOT = 46;
const isWs = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Read `text` into `out`; false when the line is not of the common shape (out is then meaningless). */
export function scanPacketLine(text: string, out: ScannedLine): boolean {
  out.text = text;
  out.srcAt = out.dstAt = out.protoAt = out.flagsAt = out.nodeAt = -1;
  out.sport = out.dport = out.t = undefined;
  const n = text.length;
  let i = 0;
  while (i < n && isWs(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== OPEN) return false;
  i++;
  for (;;) {
    while (i < n && isWs(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== QUOTE) return false;
    // the key: one of the eight, matched in place
    const k = i + 1;
    let key = 0;
    // (character by character: cheaper here than startsWith)
    const c1 = text.charCodeAt(k + 1), c2 = text.charCodeAt(k + 2), c3 = text.charCodeAt(k + 3);
    switch (text.charCodeAt(k)) {
      case 115: // s: src, sport
        if (c1 === 114) key = c2 === 99 && c3 === QUOTE ? 1 : 0;
        else if (c1 === 112) key = c2 === 111 && c3 === 114 && text.charCodeAt(k + 4) === 116 && text.charCodeAt(k + 5) === QUOTE ? 3 : 0;
        break;
      case 100: // d: dst, dport
        if (c1 === 115) key = c2 === 116 && c3 === QUOTE ? 2 : 0;
        else if (c1 === 112) key = c2 === 111 && c3 === 114 && text.charCodeAt(k + 4) === 116 && text.charCodeAt(k + 5) === QUOTE ? 4 : 0;
        break;
      case 112: // p: proto
        key = c1 === 114 && c2 === 111 && c3 === 116 && text.charCodeAt(k + 4) === 111 && text.charCodeAt(k + 5) === QUOTE ? 5 : 0;
        break;
      case 102: // f: flags
        key = c1 === 108 && c2 === 97 && c3 === 103 && text.charCodeAt(k + 4) === 115 && text.charCodeAt(k + 5) === QUOTE ? 6 : 0;
        break;
      case 110: // n: node
        key = c1 === 111 && c2 === 100 && c3 === 101 && text.charCodeAt(k + 4) === QUOTE ? 7 : 0;
        break;
      case 116: // t
        key = c1 === QUOTE ? 8 : 0;
        break;
    }
    if (key === 0) return false;
    i = k + KEY_LENGTH[key] + 1;
    while (i < n && isWs(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    while (i < n && isWs(text.charCodeAt(i))) i++;
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const a = i + 1;
      let b = a;
      for (; b < n; b++) {
        const d = text.charCodeAt(b);
        if (d === QUOTE) break;
        if (d === BACKSLASH || d < 0x20) return false;
      }
      if (b >= n) return false;
      switch (key) {
        case 1: if (out.srcAt >= 0) return false; out.srcAt = a; out.srcEnd = b; break;
        case 2: if (out.dstAt >= 0) return false; out.dstAt = a; out.dstEnd = b; break;
        case 5: if (out.protoAt >= 0) return false; out.protoAt = a; out.protoEnd = b; break;
        case 6: if (out.flagsAt >= 0) return false; out.flagsAt = a; out.flagsEnd = b; break;
        case 7: if (out.nodeAt >= 0) return false; out.nodeAt = a; out.nodeEnd = b; break;
        default: return false; // a string where a number belongs: the plain way says so
      }
      i = b + 1;
    } else if (c === MINUS || isDigit(c)) {
      // JSON's number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
      const a = i;
      let simple = true;
      if (c === MINUS) { i++; simple = false; }
      if (text.charCodeAt(i) === 48) i++;
      else if (isDigit(text.charCodeAt(i))) while (isDigit(text.charCodeAt(i))) i++;
      else return false;
      if (text.charCodeAt(i) === DOT) {
        i++; simple = false;
        if (!isDigit(text.charCodeAt(i))) return false;
        while (isDigit(text.charCodeAt(i))) i++;
      }
      const e = text.charCodeAt(i);
      if (e === 101 || e === 69) {
        i++; simple = false;
        const sgn = text.charCodeAt(i);
        if (sgn === PLUS || sgn === MINUS) i++;
        if (!isDigit(text.charCodeAt(i))) return false;
        while (isDigit(text.charCodeAt(i))) i++;
      }
      let v: number;
      if (simple && i - a <= 15) { v = 0; for (let j = a; j < i; j++) v = v * 10 + (text.charCodeAt(j) - 48); }
      else v = Number(text.slice(a, i));
      switch (key) {
        case 3: if (out.sport !== undefined) return false; out.sport = v; break;
        case 4: if (out.dport !== undefined) return false; out.dport = v; break;
        case 8: if (out.t !== undefined) return false; out.t = v; break;
        default: return false;
      }
    } else {
      return false; // an object, array, true, false or null: the plain way
    }
    while (i < n && isWs(text.charCodeAt(i))) i++;
    const sep = text.charCodeAt(i);
    i++;
    if (sep === COMMA) continue;
    if (sep !== CLOSE) return false;
    while (i < n && isWs(text.charCodeAt(i))) i++;
    return i === n;
  }
}

const KEY_LENGTH = [0, 3, 3, 5, 5, 5, 5, 4, 1];

/**
 * The u32 of the dotted quad text[a..b) when it is one as formatIPv4 writes it (four parts of 1 to 3 digits,
 * each 0..255, no leading zeros), so that the text is also the address's name in a record; -1 for anything
 * else, which the caller then hands to parseIPv4 itself (leading zeros, spaces around it, or not an address).
 */
export function dottedQuadAt(text: string, a: number, b: number): number {
  let v = 0, part = 0, digits = 0, parts = 0, first = 0;
  for (let i = a; i <= b; i++) {
    const c = i < b ? text.charCodeAt(i) : DOT; // a virtual '.' ends the last part
    if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      if (++digits > 3) return -1;
      part = part * 10 + (c - 48);
    } else if (c === DOT) {
      if (digits === 0 || part > 255 || (digits > 1 && first === 48) || ++parts > 4) return -1;
      v = v * 256 + part;
      part = 0; digits = 0;
    } else return -1;
  }
  return parts === 4 ? v >>> 0 : -1;
}
