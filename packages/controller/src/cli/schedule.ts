import type { ScheduleView } from '@faultline/shared';
import { remoteVerb } from './client.js';
import { EXIT_OK, flagOption, stringOption, usageError, type CliIo, type VerbSpec } from './io.js';

export const scheduleSpec: VerbSpec = {
  name: 'schedule',
  usage: '[--count N] [--json]',
  summary: 'list every schedule (experiments and game days) with its next fire times, in its own zone and in UTC',
  details:
    'Fire times outside a schedule\'s window are marked: they are recorded as skipped, not run.\n' +
    'A halt skips every fire until "faultline resume". See docs/scheduling.md for DST rules.',
  options: {
    count: { type: 'string', value: 'N', description: 'how many next fire times per schedule (0-100), default 3' },
    json: { type: 'boolean', description: 'print the JSON of GET /api/v1/schedules' },
  },
  remote: true,
  positionals: { min: 0, max: 0 },
};

/** `faultline schedule` */
export async function scheduleCommand(argv: string[], io: CliIo): Promise<number> {
  return remoteVerb(scheduleSpec, argv, io, async (client, args) => {
    const countText = stringOption(args, 'count') ?? '3';
    const count = Number(countText);
    if (!Number.isInteger(count) || count < 0 || count > 100) return usageError(scheduleSpec, io, '--count must be a whole number from 0 to 100');
    const schedules = await client.get<ScheduleView[]>('/api/v1/schedules', { query: { count } });
    io.stdout.write(flagOption(args, 'json') ? `${JSON.stringify(schedules, null, 2)}\n` : renderSchedules(schedules));
    return EXIT_OK;
  });
}

/** The text of `faultline schedule`. */
export function renderSchedules(schedules: readonly ScheduleView[]): string {
  if (schedules.length === 0) return 'no schedules (add spec.schedule to an experiment or a game day)\n';
  const blocks = schedules.map((s) => {
    const when = 'cron' in s.schedule ? `cron "${s.schedule.cron}" in ${s.timezone}` : `once at ${s.schedule.at}`;
    const window = s.window ? `, window ${s.window.start}-${s.window.end}${s.window.days ? ` ${s.window.days.join(',')}` : ''} (${s.timezone})` : '';
    const lines = [`${s.kind} ${s.name}: ${when}${window}, concurrency ${s.concurrency}`];
    if (s.lastFire) {
      const outcome = `${s.lastFire.outcome}${s.lastFire.reason ? ` (${s.lastFire.reason})` : ''}${s.lastFire.runId ? `, run ${s.lastFire.runId}` : ''}`;
      lines.push(`  last: ${zoneTime(s.lastFire.at, s.timezone)}  ${outcome}`);
    }
    if (s.upcoming.length === 0) lines.push('  next: none (the schedule never fires again)');
    else {
      lines.push('  next:');
      const width = Math.max(...s.upcoming.map((u) => zoneTime(u.at, s.timezone).length));
      for (const u of s.upcoming) {
        lines.push(`    ${zoneTime(u.at, s.timezone).padEnd(width)}  ${utcTime(u.at)}${u.insideWindow ? '' : '  (outside the window: will be skipped)'}`);
      }
    }
    return lines.join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** `YYYY-MM-DD HH:MM:SS ABBR (UTC±HH:MM)` in `zone`, e.g. `2026-03-08 03:00:00 EDT (UTC-04:00)`. */
export function zoneTime(epochMs: number, zone: string): string {
  const get = (style: 'short' | 'longOffset', locale = 'en-US') => {
    const key = `${zone}\u0000${style}\u0000${locale}`;
    let format = formats.get(key);
    if (!format) {
      format = new Intl.DateTimeFormat(locale, {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        timeZoneName: style,
      });
      formats.set(key, format);
    }
    return format.formatToParts(new Date(epochMs));
  };
  const parts = get('short');
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  const offsetName = get('longOffset').find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const offset = offsetName === 'GMT' ? '+00:00' : offsetName.replace('GMT', '');
  // en-US knows American abbreviations (EDT), en-GB European ones (CEST); otherwise the offset alone.
  let abbr = part('timeZoneName');
  if (abbr.startsWith('GMT')) abbr = get('short', 'en-GB').find((p) => p.type === 'timeZoneName')?.value ?? abbr;
  const name = abbr.startsWith('GMT') || abbr === 'UTC' ? '' : `${abbr} `;
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')} ${name}(UTC${offset})`;
}

/** `YYYY-MM-DDTHH:MM:SSZ`. */
function utcTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('.000Z', 'Z');
}
