// The library API's kube-proxy options for NodePorts and session affinity.
import { describe, it, expect } from 'vitest';
import { createEmulator, InputError } from '../../src/index.node.js';
import { readManifestFiles } from '../../src/node-api.js';

const SHOP = readManifestFiles('examples/shop');

describe('createEmulator: localhostNodePorts and affinityScope', () => {
  it('localhostNodePorts (iptables design): 127.0.0.1:NodePort is DNATed by default, not when off', async () => {
    const send = async (localhostNodePorts?: boolean) => {
      const emu = await createEmulator({ design: 'iptables', localhostNodePorts });
      emu.applyFiles(SHOP);
      return emu.send({ src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 30080, node: 'node-a' })[0];
    };
    expect((await send()).backend).toMatch(/^10\.244\.\d+\.\d+:8000$/);
    expect((await send(false)).backend).toBeNull();
  });
  it('bad values are InputErrors naming the option', async () => {
    await expect(createEmulator({ localhostNodePorts: 'yes' as never })).rejects.toMatchObject({ code: 'INPUT', field: 'localhostNodePorts' });
    await expect(createEmulator({ affinityScope: 'frontend' as never })).rejects.toThrow(InputError);
    await expect(createEmulator({ affinityScope: 'entry' })).resolves.toBeDefined();
  });
});
