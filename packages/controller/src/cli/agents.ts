import { formatDuration, type AgentView } from '@faultline/shared';
import { remoteVerb } from './client.js';
import { table } from './format.js';
import { EXIT_OK, flagOption, type CliIo, type VerbSpec } from './io.js';

export const agentsSpec: VerbSpec = {
  name: 'agents',
  usage: '[--json]',
  summary: 'list agents: connection, labels, last contact, active faults, latency mechanisms',
  options: { json: { type: 'boolean', description: 'print JSON' } },
  remote: true,
  positionals: { min: 0, max: 0 },
};

/** `faultline agents` */
export async function agentsCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(agentsSpec, argv, io, async (client, args) => {
    const agents = await client.get<AgentView[]>('/api/v1/agents');
    io.stdout.write(flagOption(args, 'json') ? `${JSON.stringify(agents, null, 2)}\n` : agentsTable(agents));
    return EXIT_OK;
  });
}

/** The `agents` table. */
export function agentsTable(agents: AgentView[], now = Date.now()): string {
  if (agents.length === 0) return 'no agents have connected yet\n';
  return table(
    ['name', 'connected', 'labels', 'last seen', 'faults', 'latency mechanisms'],
    agents.map((agent) => [
      agent.name,
      agent.connected ? 'yes' : 'no',
      Object.entries(agent.labels)
        .map(([key, value]) => `${key}=${value}`)
        .join(',') || '-',
      lastSeen(agent.lastSeen, now),
      String(agent.activeFaults),
      agent.capabilities.latencyMechanisms.join(',') || '-',
    ]),
  );
}

function lastSeen(at: number, now: number): string {
  if (!at) return 'never';
  const ago = Math.max(0, now - at);
  return ago < 1000 ? 'just now' : `${formatDuration(Math.round(ago / 1000) * 1000)} ago`;
}
