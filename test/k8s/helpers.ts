import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadOptions, LoadResult, ManifestFile, loadManifests } from '../../src/k8s/load.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
/** The shop cluster: one copy, the example's (examples/shop); the tests call its directory "cluster". */
export const SHOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'shop');

/** Where a fixture path lives on disk: "cluster/..." is the shop example, anything else is under fixtures/. */
const onDisk = (path: string) => (path === 'cluster' || path.startsWith('cluster/') ? join(SHOP, path.slice('cluster'.length)) : join(FIXTURES, path));

/** The files of a fixture directory, with paths relative to fixtures/ (stable in messages). */
export function fixtureFiles(dir: string): ManifestFile[] {
  return readdirSync(onDisk(dir)).sort().map((f) => ({ path: `${dir}/${f}`, text: readFileSync(join(onDisk(dir), f), 'utf8') }));
}

export function fixtureFile(path: string): ManifestFile {
  return { path, text: readFileSync(onDisk(path), 'utf8') };
}

export function loadCluster(opts?: LoadOptions): LoadResult {
  return loadManifests(fixtureFiles('cluster'), opts);
}

/** Load one inline YAML text as a file with the given name. */
export function loadText(text: string, path = 'test.yaml', opts?: LoadOptions): LoadResult {
  return loadManifests([{ path, text }], opts);
}

/** The message of the error thrown by fn (fails the test when nothing is thrown). */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error, none was thrown');
}

export const NODES_YAML = `
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: z1}}
spec: {podCIDR: 10.0.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {topology.kubernetes.io/zone: z2}}
spec: {podCIDR: 10.0.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
`;
