import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { FAULT_TYPES } from './faults.js';
import { ExperimentSchema, GameDaySchema, ManifestSchema, type Manifest } from './experiment.js';

/** One problem found in a manifest. `line` and `column` are 1-based. */
export interface ManifestIssue {
  /** Dotted field path, e.g. `spec.method.0.params.latency`; empty for the whole document. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** The result of {@link parseManifest}. */
export type ParseResult = { ok: true; manifest: Manifest } | { ok: false; issues: ManifestIssue[] };

type PathSegment = string | number;

/** A problem found by a caller's own check, located like schema problems. */
export interface ExtraIssue {
  path: PathSegment[];
  message: string;
}

/** Options of {@link parseManifest}. */
export interface ParseOptions {
  /** Further checks on a schema-valid manifest (e.g. the controller's policy); their issues get positions too. */
  check?: (manifest: Manifest) => ExtraIssue[];
}

/** Parses and validates YAML or JSON manifest text, reporting every problem at once with positions. */
export function parseManifest(text: string, options: ParseOptions = {}): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((error) => {
        const pos = lineCounter.linePos(error.pos[0]);
        return { path: '', message: `YAML syntax error: ${firstLine(error.message)}`, line: pos.line, column: pos.col };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // The yaml library throws on alias bombs ("excessive alias count") and the like: a problem of the input, not a crash.
    return { ok: false, issues: [{ path: '', message: `YAML error: ${firstLine(error instanceof Error ? error.message : String(error))}` }] };
  }
  const result = validate(value);
  let flat: FlatIssue[];
  if (result.success) {
    flat = options.check?.(result.data) ?? [];
    if (flat.length === 0) return { ok: true, manifest: result.data };
  } else {
    flat = flattenIssues(result.error.issues, value);
  }
  const issues = flat.map((issue) => {
    const located = locate(doc.contents, issue.path, lineCounter);
    const out: ManifestIssue = { path: issue.path.join('.'), message: issue.message };
    if (located) {
      out.line = located.line;
      out.column = located.col;
    }
    return out;
  });
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: false, issues: dedupe(issues) };
}

/** Formats issues as `file:line:column: field.path: message` lines. */
export function formatIssues(file: string, issues: ManifestIssue[]): string[] {
  return issues.map((issue) => {
    const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.column ?? 1}`;
    return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
  });
}

function validate(value: unknown) {
  // Give kind-specific errors when the kind is known, so the message names the real problem.
  if (isRecord(value) && value.kind === 'Experiment') return ExperimentSchema.safeParse(value);
  if (isRecord(value) && value.kind === 'GameDay') return GameDaySchema.safeParse(value);
  return ManifestSchema.safeParse(value);
}

interface FlatIssue {
  path: PathSegment[];
  message: string;
}

/** Turns zod issues into flat, readable ones; union failures are resolved to the branch the input meant. */
function flattenIssues(issues: readonly z.core.$ZodIssue[], root: unknown, prefix: PathSegment[] = []): FlatIssue[] {
  const out: FlatIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as PathSegment[])];
    if (issue.code === 'invalid_union') {
      const input = getIn(root, path);
      if (issue.errors.length === 0) {
        out.push({ path, message: unionMessage(path, input, issue) });
        continue;
      }
      if (isRecord(input) && !('pause' in input) && !('fault' in input) && path.at(-2) === 'method') {
        out.push({ path, message: 'a method step needs either "fault" (with "target") or "pause"' });
        continue;
      }
      const branch = pickBranch(input, issue.errors);
      if (branch) {
        out.push(...flattenIssues(branch, root, path));
      } else {
        out.push({ path, message: unionMessage(path, input, issue) });
      }
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: [...path, key], message: `unknown field "${key}"` });
      }
      continue;
    }
    if (issue.code === 'invalid_type' && getIn(root, path) === undefined) {
      out.push({ path, message: `missing required field "${String(path.at(-1) ?? '')}"` });
      continue;
    }
    out.push({ path, message: issue.message });
  }
  return out;
}

function unionMessage(path: PathSegment[], input: unknown, issue: z.core.$ZodIssueInvalidUnion): string {
  const last = path.at(-1);
  if (last === 'fault' || (isRecord(input) && 'fault' in input && path.at(-1) !== 'fault')) {
    const fault = isRecord(input) ? input.fault : input;
    return `unknown fault type ${JSON.stringify(fault)}; expected one of: ${FAULT_TYPES.join(', ')}`;
  }
  if (last === 'type') {
    return `unknown probe type ${JSON.stringify(input)}; expected one of: http, tcp, prometheus, exec`;
  }
  if (last === 'kind') {
    return `unknown kind ${JSON.stringify(input)}; expected Experiment or GameDay`;
  }
  if (last === 'mode') {
    return `unknown select mode ${JSON.stringify(input)}; expected one of: all, one, count, percent`;
  }
  return issue.message;
}

/** For a union, picks the branch whose errors best describe the input (fewest issues, deepest path). */
function pickBranch(input: unknown, branches: z.core.$ZodIssue[][]): z.core.$ZodIssue[] | undefined {
  if (isRecord(input) && 'pause' in input && !('fault' in input) && branches[0]) return branches[0];
  if (isRecord(input) && 'fault' in input && branches.length === 2 && branches[1]) return branches[1];
  let best: z.core.$ZodIssue[] | undefined;
  for (const branch of branches) {
    if (!best || branch.length < best.length) best = branch;
  }
  return best;
}

function getIn(value: unknown, path: PathSegment[]): unknown {
  let current = value;
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isRecord(current)) current = current[String(segment)];
    else return undefined;
  }
  return current;
}

/** Finds the line and column of a field path; falls back to the nearest existing parent. */
function locate(root: unknown, path: PathSegment[], lineCounter: LineCounter): { line: number; col: number } | undefined {
  let node = root as YamlNode | null | undefined;
  let offset = rangeStart(node);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      const keyStart = isScalar(pair.key) ? rangeStart(pair.key) : undefined;
      const value = pair.value as YamlNode | null;
      offset = rangeStart(value) ?? keyStart ?? offset;
      node = value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as YamlNode | undefined;
      if (!item) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset);
}

function rangeStart(node: unknown): number | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: [number, number, number] | null }).range;
    return range ? range[0] : undefined;
  }
  return undefined;
}

function dedupe(issues: ManifestIssue[]): ManifestIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
