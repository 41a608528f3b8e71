// The host's mirrors of the core's layouts and numbers (src/packet.ts, src/dataplane.ts) equal the values the
// core itself exports (assembly/index.ts), as Cilium's alignchecker holds the agent's Go structs to the
// datapath's C structs: edit one side alone and this test names the field.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/build.js';
import { PKT, NONE, PROTO, TCP, VERDICT, DROP, DROP_REASON_NAMES, CT_STATE, NAT, COUNTER } from '../src/packet.js';
import { CT_KEY, FLOW, RULE } from '../src/records.js';
import { ALGO, SVC_FLAG, SCOPE, IPC_FLAG, DIR, POLICY_VERDICT, IDENTITY, DESIGN_ID, resolveOptions } from '../src/dataplane.js';

const core = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(ROOT, 'build', 'release.wasm'))), {}).exports as Record<string, unknown>;
(core._initialize as (() => void) | undefined)?.(); // the start function sets the config defaults
const value = (name: string): number => {
  const g = core[name];
  if (!(g instanceof WebAssembly.Global)) throw new Error(`the core exports no ${name}`);
  return Number(g.value) >>> 0;
};

/** [host mirror, its value, the core's export] */
function pairs(): [string, number, string][] {
  const out: [string, number, string][] = [];
  const add = (host: string, table: Record<string, number>, prefix: string, rename: Record<string, string> = {}) => {
    for (const [k, v] of Object.entries(table)) out.push([`${host}.${k}`, v, rename[k] ?? `${prefix}${k}`]);
  };
  add('PKT', PKT, 'PKT_');
  out.push(['NONE', NONE, 'NONE']);
  add('PROTO', PROTO, 'PROTO_');
  add('TCP', Object.fromEntries(Object.entries(TCP).filter(([k]) => k !== 'PSH')), 'TCP_');
  add('VERDICT', VERDICT, 'VERDICT_');
  add('DROP', Object.fromEntries(Object.entries(DROP).filter(([k]) => k !== 'NONE')), 'DROP_');
  out.push(['DROP_REASON_NAMES.length', DROP_REASON_NAMES.length, 'DROP_REASONS']);
  add('CT_STATE', CT_STATE, 'CT_');
  add('NAT', NAT, 'NAT_');
  add('COUNTER', COUNTER, 'C_', { LENGTH: 'COUNTERS' });
  add('ALGO', ALGO, 'ALGO_', Object.fromEntries(Object.keys(ALGO).map((k) => [k, `ALGO_${k.toUpperCase()}`])));
  add('SVC_FLAG', SVC_FLAG, 'SVC_');
  add('SCOPE', SCOPE, 'SCOPE_', { any: 'SCOPE_ANY', external: 'SCOPE_EXTERNAL', internal: 'SCOPE_INTERNAL' });
  add('IPC_FLAG', IPC_FLAG, 'IPC_');
  add('DIR', DIR, 'DIR_');
  add('POLICY_VERDICT', POLICY_VERDICT, 'POLICY_');
  add('IDENTITY', IDENTITY, 'IDENTITY_');
  add('DESIGN_ID', DESIGN_ID, 'DESIGN_', { ebpf: 'DESIGN_EBPF', iptables: 'DESIGN_IPTABLES', ipvs: 'DESIGN_IPVS', nftables: 'DESIGN_NFTABLES' });
  add('CT_KEY', CT_KEY, 'K_', { SIZE: 'CT_KEY_SIZE' });
  add('FLOW', FLOW, 'F_', { SIZE: 'CT_FLOW_SIZE' });
  add('RULE', RULE, 'RULE_');
  const d = resolveOptions();
  out.push(['default lifetime tcp', d.lifetimesMs.tcp, 'CT_LIFETIME_TCP'], ['default lifetime syn', d.lifetimesMs.syn, 'CT_LIFETIME_SYN'],
    ['default lifetime close', d.lifetimesMs.close, 'CT_LIFETIME_CLOSE'], ['default lifetime nonTcp', d.lifetimesMs.nonTcp, 'CT_LIFETIME_NONTCP'],
    ['default natPorts.min', d.natPorts.min, 'NAT_PORT_MIN'], ['default natPorts.max', d.natPorts.max, 'NAT_PORT_MAX'], ['default natPorts.tries', d.natPorts.tries, 'NAT_PORT_TRIES']);
  return out;
}

describe('host mirrors of the core', () => {
  it('every layout offset, size, code and default equals the core\'s own', () => {
    const wrong = pairs().filter(([, v, name]) => (v >>> 0) !== value(name)).map(([host, v, name]) => `${host} = ${v}, the core's ${name} = ${value(name)}`);
    expect(wrong).toEqual([]);
    expect(pairs().length).toBeGreaterThan(90);
  });
});
