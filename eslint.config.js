// ESLint flat config (https://eslint.org/docs/latest/use/configure/).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * ESLint's own recommended rules. They ship in @eslint/js, which is not a
 * dependency of this project; without it, the same set is read from the
 * rules' `recommended` flag.
 */
async function eslintRecommendedRules() {
  try {
    const { default: js } = await import('@eslint/js');
    return js.configs.recommended.rules;
  } catch {
    const { builtinRules } = await import('eslint/use-at-your-own-risk');
    return Object.fromEntries(
      [...builtinRules].filter(([, rule]) => rule.meta?.docs?.recommended).map(([name]) => [name, 'error']),
    );
  }
}

/** koffi (the FFI) is confined to src/sys, the one module that talks to libc. */
const KOFFI_ONLY_IN_SRC_SYS = 'Only src/sys may use koffi; add what you need to src/sys/libc.ts instead.';
const KOFFI_MODULE = /^koffi(\/|$)/.source;
const KOFFI_IMPORTS = { paths: [{ name: 'koffi', message: KOFFI_ONLY_IN_SRC_SYS }], patterns: [{ group: ['koffi/*'], message: KOFFI_ONLY_IN_SRC_SYS }] };
const KOFFI_SYNTAX = [
  { selector: `ImportExpression[source.value=/${KOFFI_MODULE}/]`, message: KOFFI_ONLY_IN_SRC_SYS },
  { selector: `CallExpression[callee.name='require'][arguments.0.value=/${KOFFI_MODULE}/]`, message: KOFFI_ONLY_IN_SRC_SYS },
];

/**
 * The layers of src/ (README, "Source layout"), lowest first. A file may
 * import its own layer and the layers before it, never one after it:
 *
 *   util     errors, logging: usable by every layer (imports nothing of ours)
 *   sys      libc through koffi
 *   memory, kvm, bus, arch (arch/x86), devices (legacy, pci, virtio/<device>, test),
 *   backends (host side of devices), vmm, control, api
 *   guest    the default guest kit's builder; used by cli (tkvm setup, run)
 *   cli      the tkvm command
 *   testing  test helpers: they may use every layer (they boot VMs, build
 *            initramfs images), and only *.test.ts files may import them.
 *
 * Tests otherwise follow their folder's rule. Folders outside src/ (bench/,
 * test/, scripts/) may import any layer. The rule is checked on import and
 * export-from declarations and on import() with a literal path.
 */
const LAYERS = ['util', 'sys', 'memory', 'kvm', 'bus', 'arch', 'devices', 'backends', 'vmm', 'control', 'api', 'guest', 'cli', 'testing'];

/** Matches a relative import that reaches into one of `layers` (folder names are unique in src/). */
function layerRegex(layers) {
  return `^\\.{1,2}/(?:.*/)?(?:${layers.join('|')})(?:/|$)`;
}

/**
 * no-restricted-imports / no-restricted-syntax for files of layer `index`
 * (tests may also use testing/), with the koffi rule everywhere but src/sys.
 */
function layerRules(index, isTest) {
  const koffiImports = LAYERS[index] === 'sys' ? { paths: [], patterns: [] } : KOFFI_IMPORTS;
  const koffiSyntax = LAYERS[index] === 'sys' ? [] : KOFFI_SYNTAX;
  const above = LAYERS.slice(index + 1).filter((l) => !(isTest && l === 'testing'));
  const message = `src/${LAYERS[index]} imports only its own layer and those below it${isTest ? ', and testing/' : ''} (LAYERS in eslint.config.js): move the code down or invert the dependency.`;
  const regex = layerRegex(above);
  const patterns = above.length > 0 ? [...koffiImports.patterns, { regex, message }] : koffiImports.patterns;
  const syntax = above.length > 0 ? [...koffiSyntax, { selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\/')}/]`, message }] : koffiSyntax;
  return {
    'no-restricted-imports': ['error', { paths: koffiImports.paths, patterns }],
    'no-restricted-syntax': syntax.length > 0 ? ['error', ...syntax] : 'off',
  };
}

const layerBlocks = LAYERS.flatMap((layer, index) => [
  { files: [`src/${layer}/**/*.ts`], ignores: ['**/*.test.ts'], rules: layerRules(index, false) },
  { files: [`src/${layer}/**/*.test.ts`], rules: layerRules(index, true) },
]);

export default defineConfig([
  { ignores: ['dist/', 'node_modules/', 'test/guests/build/', 'bench/build/'] },
  {
    files: ['**/*.js', '**/*.ts'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      ...(await eslintRecommendedRules()),
      'no-restricted-imports': ['error', KOFFI_IMPORTS],
      'no-restricted-syntax': ['error', ...KOFFI_SYNTAX],
    },
  },
  {
    // The tkvm web page's own scripts run in the browser (src/api/web serves them).
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['window', 'document', 'location', 'fetch', 'WebSocket', 'TextEncoder', 'setTimeout', 'console', 'globalThis', 'HTMLCanvasElement'].map((name) => [name, 'readonly'])),
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      // Matches TypeScript's noUnusedParameters, which allows _-prefixed names.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerBlocks,
]);
