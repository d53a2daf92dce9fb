// The frontend's linter: `npm run lint` (tsc --noEmit, then this), the frontend-lint suite of
// `cargo xtask ci`. ESLint's recommended rules everywhere; on TypeScript, typescript-eslint's
// strict rules with type information (the project's tsconfig.json).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  {
    // No console debugging left behind: the page reports errors (console.error) and nothing
    // else; the debugger statement is in the recommended rules.
    rules: { 'no-console': ['error', { allow: ['error', 'warn'] }] },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `() => done(x)` as a callback reads as what it is; numbers in messages are fine; `!`
      // on a lookup of an element the code itself just built says what is known.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    // The end-to-end harness and this file run in Node; the harness also hands functions to
    // the page, which run in the browser.
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
