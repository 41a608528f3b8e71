// What a failed property prints: the shrunk cluster as YAML and the packets as JSON lines, ready for
// `dpemu trace --cluster cluster.yaml --packets packets.jsonl` (changes made in the middle of the
// traffic become {"apply": "change-N.yaml"} / {"delete": {...}} lines, with each change's YAML).
import { Document, isMap, isScalar, isSeq, visit } from 'yaml';
import type { ApplyReport, Counters, FlowRecord, ManifestInput, ObjectRef, PacketInput } from '../api/types.js';

/** The five methods of an Emulator that the properties use: any object with them can be tested. */
export interface TestedEmulator {
  apply(input: ManifestInput, options?: { source?: string }): ApplyReport | unknown;
  delete(refs: ObjectRef | readonly ObjectRef[] | ManifestInput): ApplyReport | unknown;
  send(packets: PacketInput | readonly PacketInput[]): FlowRecord[];
  advance(seconds: number): void;
  counters(): Counters;
}

type Step =
  | { kind: 'apply'; objects: ManifestInput; t: number }
  | { kind: 'delete'; refs: unknown; t: number }
  | { kind: 'packet'; packet: PacketInput; t: number };

/** An emulator that remembers everything done to it, so that a failure can be replayed with `dpemu trace`. */
export class Recording implements TestedEmulator {
  readonly steps: Step[] = [];
  private now = 0;
  constructor(readonly inner: TestedEmulator) {}
  apply(input: ManifestInput): unknown { this.steps.push({ kind: 'apply', objects: input, t: this.now }); return this.inner.apply(input); }
  delete(refs: ObjectRef | readonly ObjectRef[] | ManifestInput): unknown { this.steps.push({ kind: 'delete', refs, t: this.now }); return this.inner.delete(refs); }
  send(packets: PacketInput | readonly PacketInput[]): FlowRecord[] {
    const list = (Array.isArray(packets) ? packets : [packets]) as PacketInput[];
    for (const p of list) this.steps.push({ kind: 'packet', packet: p, t: this.now });
    return this.inner.send(list);
  }
  /** Send one packet and return its record. */
  one(packet: PacketInput): FlowRecord {
    const r = this.send([packet]);
    if (r.length !== 1) throw new PropertyFailure(`send() of one packet returned ${r.length} records`, this);
    return r[0];
  }
  advance(seconds: number): void { this.now += seconds; this.inner.advance(seconds); }
  counters(): Counters { return this.inner.counters(); }
  /** Packets sent so far. */
  get packets(): number { return this.steps.filter((s) => s.kind === 'packet').length; }
}

/** One object as YAML, collections of a few scalars written on one line (as people write manifests). */
function compactYaml(o: unknown): string {
  const doc = new Document(o);
  visit(doc, {
    Map(_, node) { if (node.items.length <= 4 && node.items.every((p) => isScalar(p.value))) node.flow = true; },
    Seq(_, node) { if (node.items.every((x) => isScalar(x) || (isMap(x) && x.flow) || (isSeq(x) && x.flow))) node.flow = true; },
  });
  return doc.toString({ lineWidth: 0 });
}

const yamlDocs = (input: ManifestInput): string =>
  typeof input === 'string' ? input : (Array.isArray(input) ? input : [input]).map((o) => `---\n${compactYaml(o)}`).join('');

/**
 * The counterexample of a failed property as text: the cluster (the first apply) as cluster.yaml, every
 * later change as change-N.yaml, and packets.jsonl with one line per packet and per change, in order.
 * The packet that broke the rule is marked by its line number.
 */
export function formatCounterexample(rec: Recording, failedPacket?: number): string {
  const files: string[] = [];
  const lines: string[] = [];
  let changes = 0, packets = 0, failedLine = 0;
  rec.steps.forEach((s, i) => {
    if (s.kind === 'apply' && i === 0) { files.push(`# cluster.yaml\n${yamlDocs(s.objects)}`); return; }
    if (s.kind === 'apply') {
      const name = `change-${++changes}.yaml`;
      files.push(`# ${name}\n${yamlDocs(s.objects)}`);
      lines.push(JSON.stringify({ apply: name, t: s.t }));
    } else if (s.kind === 'delete') {
      lines.push(JSON.stringify({ delete: s.refs, t: s.t }));
    } else {
      lines.push(JSON.stringify({ ...s.packet, t: s.t }));
      if (++packets === failedPacket) failedLine = lines.length;
    }
  });
  return [
    ...files,
    `# packets.jsonl${failedLine ? ` (the rule broke at line ${failedLine})` : ''}`,
    ...lines,
    '# replay: dpemu trace --cluster cluster.yaml --packets packets.jsonl (add --design D to match the emulator)',
  ].join('\n');
}

/** A property's failure: what rule broke and the counterexample to replay. */
export class PropertyFailure extends Error {
  constructor(what: string, rec: Recording, failedPacket = rec.packets) {
    super(`${what}\n\n${formatCounterexample(rec, failedPacket)}`);
    this.name = 'PropertyFailure';
  }
}
