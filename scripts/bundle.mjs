// Bundles the compiled CLI and its worker-thread entry points into
// dist/tkvm/ (the package's bin). Loading a few bundled files instead of
// ~100 ES modules takes tens of milliseconds off every `tkvm run` start.
// The worker entries keep their names, because the code that starts them
// resolves './vcpu-thread.js', './device-thread.js', './sleeper-thread.js', './io-thread.js'
// (the shared-directory layer's I/O threads) and './virtio-host.js'
// (which device threads import, src/vmm/pci-devices.ts) next to itself.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const outdir = 'dist/tkvm';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [
    'dist/src/cli/main.js',
    'dist/src/vmm/vcpu-thread.js',
    'dist/src/devices/virtio/pci/device-thread.js',
    'dist/src/devices/virtio/runtime/sleeper-thread.js',
    'dist/src/backends/fs/io-thread.js',
    'dist/src/vmm/virtio-host.js',
  ],
  outdir,
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Ink loads react-devtools-core only with DEV=true; it is not a dependency.
  // ws (tkvm web) loads from node_modules, as it does from dist/src.
  external: ['koffi', 'react-devtools-core', 'ws'],
  // CommonJS packages in the bundle (Ink's dependencies) require() Node's
  // built-ins; an ES module has no require, so give every output file one.
  banner: { js: "import { createRequire as __tkvmCreateRequire } from 'node:module'; const require = __tkvmCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
