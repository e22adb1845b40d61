// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const tsconfigRootDir = import.meta.dirname;

export default defineConfig(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/coverage/**',
      'schemas/**',
      '.faultline/**',
      '.faultline-agent/**',
      'test-results/**',
      '.tmp/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      parserOptions: {
        // Each package's src is covered by packages/*/tsconfig.json.
        projectService: true,
        tsconfigRootDir,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // Async implementations of a Promise-returning interface are fine without an await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests and root TS configs are not in any tsconfig.json the project service can find; they
    // are all in tsconfig.test.json.
    files: ['packages/*/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', '*.config.ts'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: ['./tsconfig.test.json'],
        tsconfigRootDir,
      },
    },
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // expect(obj.method) and vi.spyOn are common in tests.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Daemons log through pino; only the CLI and entry points talk to the terminal directly.
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/controller/src/cli/**', 'packages/*/src/main.ts', 'packages/*/src/bin/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // Plain JS files (eslint.config.js and the like) are in no tsconfig: lint them without type
    // information rather than ignoring them, which also keeps `eslint .` from failing on a tree
    // with nothing else to lint.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
);
