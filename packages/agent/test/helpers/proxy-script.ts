import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const HOST_SRC = fileURLToPath(new URL('../../src/host/', import.meta.url));

/**
 * Tests run the agent from its TypeScript sources, but the latency proxy is a separate Node program
 * that must be JavaScript. Transpile src/host/*.ts (Node built-ins only) into a temporary folder and
 * return the path of latency-proxy-main.js there, plus a disposer.
 */
export function buildProxyScript(): { script: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-proxy-'));
  const out = join(dir, 'host');
  mkdirSync(out);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const name of readdirSync(HOST_SRC)) {
    if (!name.endsWith('.ts')) continue;
    const source = readFileSync(join(HOST_SRC, name), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      fileName: name,
    });
    writeFileSync(join(out, name.replace(/\.ts$/, '.js')), outputText);
  }
  return { script: join(out, 'latency-proxy-main.js'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
