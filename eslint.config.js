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

export default defineConfig([
  { ignores: ['dist/', 'node_modules/', 'test/guests/build/', 'bench/build/'] },
  {
    files: ['**/*.js', '**/*.ts'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      ...(await eslintRecommendedRules()),
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'koffi', message: KOFFI_ONLY_IN_SRC_SYS }], patterns: [{ group: ['koffi/*'], message: KOFFI_ONLY_IN_SRC_SYS }] },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: `ImportExpression[source.value=/${KOFFI_MODULE}/]`, message: KOFFI_ONLY_IN_SRC_SYS },
        { selector: `CallExpression[callee.name='require'][arguments.0.value=/${KOFFI_MODULE}/]`, message: KOFFI_ONLY_IN_SRC_SYS },
      ],
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
  {
    files: ['src/sys/**'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
]);
