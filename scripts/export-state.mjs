// Post-build step of the core: export every mutable WebAssembly global as `state$<i>` (and the build's id as `buildId`), so that the host
// can save and restore the core's whole state (its linear memory plus these globals) for snapshots
// (src/api/snapshot.ts). AssemblyScript keeps module-level `let`s in globals, not in memory; listing them
// by hand would miss the next one added. Done on the optimized binary, so the code is unchanged: an export
// of a global costs nothing at run time. Uses binaryen, which assemblyscript itself depends on.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

// FNV-1a of the compiler's output: the core's build id, which snapshots record and check.
function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

for (const file of process.argv.slice(2)) {
  const bytes = readFileSync(file);
  const mod = binaryen.readBinary(bytes);
  mod.setFeatures(binaryen.Features.All);
  const exported = new Set();
  for (let i = 0; i < mod.getNumExports(); i++) {
    const e = binaryen.getExportInfo(mod.getExportByIndex(i));
    if (e.name.startsWith('state$')) exported.add(e.value);
  }
  let n = 0;
  for (let i = 0; i < mod.getNumGlobals(); i++) {
    const g = binaryen.getGlobalInfo(mod.getGlobalByIndex(i));
    if (!g.mutable || g.imported || exported.has(g.name)) continue;
    mod.addGlobalExport(g.name, `state$${n++}`);
  }
  if (!exported.size) {
    mod.addGlobal('dpemu$build', binaryen.i32, false, mod.i32.const(fnv1a(bytes) | 0));
    mod.addGlobalExport('dpemu$build', 'buildId');
  }
  if (!mod.validate()) throw new Error(`${file}: invalid after exporting its globals`);
  writeFileSync(file, mod.emitBinary());
  process.stdout.write(`${file}: ${n} mutable globals exported for snapshots\n`);
}
