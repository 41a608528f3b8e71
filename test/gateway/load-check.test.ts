import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import { checkCluster } from '../../src/k8s/check.js';
import { GATEWAY, route, svc } from './helpers.js';

const load = (text: string) => loadManifests([{ path: 'gw.yaml', text }]);

describe('loading the north-south kinds', () => {
  it('reads v1 and v1beta1 objects, defaults and cluster-scoped classes', () => {
    const { model, warnings } = load(GATEWAY.replace('gateway.networking.k8s.io/v1\nkind: Gateway\n', 'gateway.networking.k8s.io/v1beta1\nkind: Gateway\n')
      + route('r', 'app', 'parentRefs: [{name: gw, namespace: infra}]'));
    const ns = model.northSouth!;
    expect(ns.gatewayClasses[0].name).toBe('emu');
    expect(ns.gateways[0]).toMatchObject({ address: '192.0.2.10', listeners: [{ kinds: ['gateway.networking.k8s.io/HTTPRoute'], namespaces: { from: 'All' } }] });
    expect(ns.httpRoutes[0].rules[0].matches[0].path).toEqual({ type: 'PathPrefix', value: '/' });
    expect(warnings.some((w) => w.message.includes('v1beta1 read as'))).toBe(true);
  });
  it('a bad field names the file, the object and the field', () => {
    expect(() => load(route('r', 'app', 'parentRefs: [{name: gw}]\nrules: [{backendRefs: [{name: s}]}]')))
      .toThrow('gw.yaml: document 1 (HTTPRoute app/r): spec.rules[0].backendRefs[0].port: required when the backend is a Service');
    expect(() => load(route('r', 'app', 'rules: [{matches: [{path: {type: Exact, value: nope}}]}]')))
      .toThrow(/HTTPRoute app\/r\): spec.rules\[0\].matches\[0\].path.value: must be an absolute path/);
    expect(() => load(GATEWAY.replace('port: 80', 'port: 0'))).toThrow(/Gateway infra\/gw\): spec.listeners\[0\].port/);
  });
});

describe('dpemu check on routes', () => {
  it('reports route status reasons and unsupported parts', () => {
    const { model } = load(GATEWAY.replace('from: All', 'from: Same') + svc('app', 'a')
      + route('r', 'app', 'parentRefs: [{name: gw, namespace: infra}]\nrules: [{backendRefs: [{name: nosuch, port: 80}], timeouts: {request: 5s}}]')
      + route('m', 'app', 'parentRefs: [{name: gw, namespace: infra}]\nrules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: a, port: 80}}}], backendRefs: [{name: a, port: 80}]}]'));
    const d = checkCluster(model);
    const msgs = d.map((x) => `${x.severity} ${x.code}`);
    expect(msgs).toContain('error route-NotAllowedByListeners');
    expect(msgs).toContain('error route-BackendNotFound');
    expect(d.find((x) => x.message.includes('timeouts is accepted but not emulated'))).toBeTruthy();
    expect(d.find((x) => x.message.includes('filter RequestMirror is accepted but not emulated'))).toBeTruthy();
  });
});
