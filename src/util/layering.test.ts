/**
 * The layer rule of eslint.config.js (LAYERS) refuses imports into a higher
 * layer: static, export-from and import() with a literal path, and
 * testing/ outside tests. Checked on sample sources, so that the rule
 * cannot silently stop matching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../testing/kvm.js';

async function layerErrors(file: string, code: string): Promise<number[]> {
  const eslint = new ESLint({ cwd: REPO_ROOT });
  const [result] = await eslint.lintText(code, { filePath: `${REPO_ROOT}/${file}` });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => m.line);
}

test('imports into a higher layer are lint errors, imports downward are not', async () => {
  const bad = [
    "import { RawDisk } from '../../backends/disk/raw.js';",
    "export { runVm } from '../../control/run.js';",
    "export const m = () => import('../../vmm/machine.js');",
    "import { requireKvm } from '../../testing/kvm.js';",
  ].join('\n');
  assert.deepEqual(await layerErrors('src/devices/virtio/zz-sample.ts', `${bad}\nexport const x = [RawDisk, requireKvm];\n`), [1, 2, 3, 4]);
  const good = "import { GuestMemory } from '../../memory/guest-memory.js';\nimport { TkvmError } from '../../util/errors.js';\nexport const x = [GuestMemory, TkvmError];\n";
  assert.deepEqual(await layerErrors('src/devices/virtio/zz-sample.ts', good), []);
});

test('tests may use testing/, and otherwise follow their folder\'s rule', async () => {
  const code = "import { requireKvm } from '../testing/kvm.js';\nimport { Vm } from '../kvm/vm.js';\nexport const x = [requireKvm, Vm];\n";
  assert.deepEqual(await layerErrors('src/memory/zz-sample.test.ts', code), [2]);
});

test('koffi stays confined to src/sys', async () => {
  const code = "import koffi from 'koffi';\nexport const k = koffi;\n";
  assert.deepEqual(await layerErrors('src/bus/zz-sample.ts', code), [1]);
  assert.deepEqual(await layerErrors('src/sys/zz-sample.ts', code), []);
});
