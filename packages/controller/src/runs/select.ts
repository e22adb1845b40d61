import type { PlannedTarget, Select } from '@faultline/shared';

/** A candidate container on an agent. */
export type Candidate = PlannedTarget;

/**
 * Applies `select` across every agent's candidates together. Candidates are first ordered by agent and
 * container name so that a given random source always yields the same choice.
 */
export function applySelect(candidates: Candidate[], select: Select, random: () => number = Math.random): Candidate[] {
  const ordered = [...candidates].sort(
    (a, b) => a.agent.localeCompare(b.agent) || a.containerName.localeCompare(b.containerName) || a.containerId.localeCompare(b.containerId),
  );
  const count = selectCount(ordered.length, select);
  if (count >= ordered.length) return ordered;
  // Partial Fisher-Yates: the first `count` slots become a uniform random sample.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (ordered.length - i));
    [ordered[i], ordered[j]] = [ordered[j]!, ordered[i]!];
  }
  return ordered.slice(0, count);
}

/** How many of `total` candidates a selection takes. */
export function selectCount(total: number, select: Select): number {
  switch (select.mode) {
    case 'all':
      return total;
    case 'one':
      return Math.min(1, total);
    case 'count':
      return Math.min(select.value, total);
    case 'percent':
      return total === 0 ? 0 : Math.min(total, Math.max(1, Math.ceil((total * select.value) / 100)));
    default: {
      const unreachable: never = select;
      return unreachable;
    }
  }
}
