// Lint config: typescript-eslint recommended, the house rule "no empty catch", and the layering
// of src/ (eslint-rules/layers.js: one ordered list of parts, lowest first).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './eslint-rules/layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { pgrouter: layers },
    rules: { 'pgrouter/layers': 'error' },
  },
  {
    files: ['bin/**', '*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
