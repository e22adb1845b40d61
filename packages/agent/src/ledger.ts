import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The agent's on-disk fault ledger: one JSON file per fault, written before the fault touches
 * anything, so an agent that crashed can revert at its next start what it left behind.
 */

export type LedgerState = 'applying' | 'active';

/** What a fault created on the host, so it can be removed without the process that created it. */
export interface LedgerArtifacts {
  /** iptables chain (FL-...) in the container's network namespace. */
  chain?: string;
  /** Every iptables chain of the fault, when it has more than one (e.g. FL-...-in and FL-...-out). */
  chains?: string[];
  /** The iptables table of `chain`/`chains` when it is not `nat` (network-loss, network-blackhole: `filter`). */
  table?: string;
  /** netem root qdisc handle (e.g. `fa17:`) and its device. */
  qdiscHandle?: string;
  dev?: string;
  /** Pid of the latency proxy. */
  proxyPid?: number;
  /** Ports the latency proxy listens on (same order as the redirected ports). */
  listenPorts?: number[];
  /** Redirected target ports. */
  ports?: number[];
}

/** One fault as the ledger holds it. */
export interface LedgerEntry {
  faultId: string;
  runId: string;
  type: string;
  containerId: string;
  containerName: string;
  /** Host pid of the container's init when the fault was applied; its namespace holds the fault. */
  pid: number;
  /** Docker's State.StartedAt then: a restarted container has a new namespace. */
  containerStartedAt?: string;
  params: unknown;
  mechanism?: string;
  artifacts: LedgerArtifacts;
  /** Epoch ms at which the fault must be reverted; null for none. */
  deadline: number | null;
  /** Epoch ms. */
  recordedAt: number;
  state: LedgerState;
}

/** What {@link Ledger.record} needs; `recordedAt` and `state` default to now and `applying`. */
export type LedgerRecord = Omit<LedgerEntry, 'recordedAt' | 'state'> & Partial<Pick<LedgerEntry, 'recordedAt' | 'state'>>;

/** Changes to an entry; `artifacts` is merged into the existing artifacts. */
export type LedgerPatch = Partial<Omit<LedgerEntry, 'faultId' | 'artifacts'>> & { artifacts?: Partial<LedgerArtifacts> };

/** A ledger file that could not be read. */
export interface CorruptLedgerFile {
  file: string;
  error: string;
}

/** Options of {@link Ledger}. */
export interface LedgerOptions {
  /** Called for each file {@link Ledger.list} skips. */
  onCorrupt?: (problem: CorruptLedgerFile) => void;
}

const FAULT_ID = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,199}$/;

/** Throws unless `faultId` is usable as a file name. */
export function assertLedgerFaultId(faultId: string): void {
  if (!FAULT_ID.test(faultId)) {
    throw new Error(`invalid fault id ${JSON.stringify(faultId)}: use letters, digits and _ . : @ - (at most 200)`);
  }
}

function validateEntry(value: unknown, faultId: string): LedgerEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  const entry = value as Record<string, unknown>;
  const need = (key: string, type: string): void => {
    if (typeof entry[key] !== type) throw new Error(`field ${key} is not a ${type}`);
  };
  need('faultId', 'string');
  need('runId', 'string');
  need('type', 'string');
  need('containerId', 'string');
  need('containerName', 'string');
  need('pid', 'number');
  need('recordedAt', 'number');
  if (entry.faultId !== faultId) throw new Error(`faultId ${JSON.stringify(entry.faultId)} does not match the file name`);
  if (entry.state !== 'applying' && entry.state !== 'active') throw new Error('field state is not applying or active');
  if (entry.deadline !== null && typeof entry.deadline !== 'number') throw new Error('field deadline is not a number or null');
  if (typeof entry.artifacts !== 'object' || entry.artifacts === null) throw new Error('field artifacts is not an object');
  return entry as unknown as LedgerEntry;
}

/** The fault ledger under `<stateDir>/ledger/`. */
export class Ledger {
  readonly dir: string;
  readonly #onCorrupt: (problem: CorruptLedgerFile) => void;
  // Serialises writes per fault so that concurrent updates never lose one another.
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(stateDir: string, options: LedgerOptions = {}) {
    this.dir = join(stateDir, 'ledger');
    this.#onCorrupt = options.onCorrupt ?? (() => undefined);
  }

  #file(faultId: string): string {
    assertLedgerFaultId(faultId);
    return join(this.dir, `${faultId}.json`);
  }

  async #exclusive<T>(faultId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(faultId) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.#locks.set(faultId, settled);
    try {
      return await next;
    } finally {
      if (this.#locks.get(faultId) === settled) this.#locks.delete(faultId);
    }
  }

  /** Creates the ledger directory. Called by the writers; call it at start-up to fail early. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async #write(entry: LedgerEntry): Promise<void> {
    await this.init();
    const file = this.#file(entry.faultId);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(entry, null, 2)}\n`, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close();
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    await handle.close();
    try {
      await rename(tmp, file);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    await this.#syncDir();
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async #read(faultId: string): Promise<LedgerEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file(faultId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return validateEntry(JSON.parse(text), faultId);
  }

  /** Writes a new entry (durably) before the fault is applied. Fails if the fault is already recorded. */
  async record(input: LedgerRecord): Promise<LedgerEntry> {
    return this.#exclusive(input.faultId, async () => {
      const existing = await this.#read(input.faultId).catch(() => undefined);
      if (existing) throw new Error(`fault ${input.faultId} is already in the ledger`);
      const entry: LedgerEntry = { ...input, recordedAt: input.recordedAt ?? Date.now(), state: input.state ?? 'applying' };
      await this.#write(entry);
      return entry;
    });
  }

  /** Changes an entry (artifacts are merged) and writes it durably. Throws if there is no such entry. */
  async update(faultId: string, patch: LedgerPatch): Promise<LedgerEntry> {
    return this.#exclusive(faultId, async () => {
      const existing = await this.#read(faultId);
      if (!existing) throw new Error(`fault ${faultId} is not in the ledger`);
      const { artifacts, ...rest } = patch;
      const entry: LedgerEntry = { ...existing, ...rest, faultId, artifacts: { ...existing.artifacts, ...artifacts } };
      await this.#write(entry);
      return entry;
    });
  }

  /** One entry, or undefined. Throws if its file is corrupt. */
  async get(faultId: string): Promise<LedgerEntry | undefined> {
    return this.#read(faultId);
  }

  /** Deletes an entry; a missing entry is fine. */
  async remove(faultId: string): Promise<void> {
    await this.#exclusive(faultId, async () => {
      try {
        await unlink(this.#file(faultId));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      await this.#syncDir();
    });
  }

  /** Every readable entry and every file that could not be read (left in place for a person to look at). */
  async scan(): Promise<{ entries: LedgerEntry[]; corrupt: CorruptLedgerFile[] }> {
    const entries: LedgerEntry[] = [];
    const corrupt: CorruptLedgerFile[] = [];
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries, corrupt };
      throw error;
    }
    for (const name of names.sort()) {
      if (name.endsWith('.tmp')) {
        // A write by an earlier process that never reached its rename: the entry it was replacing
        // (if any) is intact. Our own may be in flight.
        // Temporary names are `<faultId>.json.<pid>.<random>.tmp`.
        if (name.split('.').at(-3) !== String(process.pid)) await unlink(join(this.dir, name)).catch(() => undefined);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const faultId = name.slice(0, -'.json'.length);
      const file = join(this.dir, name);
      try {
        if (!FAULT_ID.test(faultId)) throw new Error('file name is not a fault id');
        const entry = await this.#read(faultId);
        if (entry) entries.push(entry);
      } catch (error) {
        corrupt.push({ file, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { entries, corrupt };
  }

  /** Every readable entry, oldest first; unreadable files are skipped and reported to `onCorrupt`. */
  async list(): Promise<LedgerEntry[]> {
    const { entries, corrupt } = await this.scan();
    for (const problem of corrupt) this.#onCorrupt(problem);
    return entries.sort((a, b) => a.recordedAt - b.recordedAt);
  }
}
