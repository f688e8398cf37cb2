// Bundles the compiled CLI and its worker-thread entry points into
// dist/tkvm/ (the package's bin). Loading a few bundled files instead of
// ~100 ES modules takes tens of milliseconds off every `tkvm run` start.
// The worker entries keep their names, because the code that starts them
// resolves './vcpu-thread.js' and './device-thread.js' next to itself.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const outdir = 'dist/tkvm';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [
    'dist/src/cli/main.js',
    'dist/src/vmm/vcpu-thread.js',
    'dist/src/devices/virtio/pci/device-thread.js',
  ],
  outdir,
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  logLevel: 'warning',
});
