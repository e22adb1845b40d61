/**
 * Cron expressions and time zone names of schedules (SPEC §3): parsing with messages that name the
 * field at fault, and matching against wall-clock fields. Fire *times* are computed by the
 * controller's scheduler, which knows about time zones and DST; this module knows only fields.
 */

/** One parsed cron field. */
export interface CronField {
  /** Allowed values, ascending, without duplicates. */
  values: readonly number[];
  /**
   * The field was written starting with `*` (`*`, `*\/15`). It matters for the day fields (standard
   * cron: when both day fields are restricted, a day matches if either does) and for the hour field
   * (an hour field starting with `*` makes the schedule follow elapsed time across DST changes).
   */
  star: boolean;
}

/** A parsed cron expression. */
export interface CronExpression {
  /** The text as written. */
  source: string;
  /** True for 6 fields (seconds first). */
  hasSeconds: boolean;
  second: CronField;
  minute: CronField;
  hour: CronField;
  dayOfMonth: CronField;
  month: CronField;
  /** 0-6, Sunday is 0 (7 is accepted and read as 0). */
  dayOfWeek: CronField;
}

/** The result of {@link parseCron}. */
export type CronParseResult = { ok: true; cron: CronExpression } | { ok: false; message: string };

/** Wall-clock fields that a cron expression is matched against. `month` is 1-12, `weekday` 0-6 (Sunday 0). */
export interface WallFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Value names start at this number (1 for months, 0 for weekdays). */
  namesFrom?: number;
}

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const SECOND: FieldDef = { name: 'second', min: 0, max: 59 };
const MINUTE: FieldDef = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldDef = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: FieldDef = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldDef = { name: 'month', min: 1, max: 12, names: MONTH_NAMES, namesFrom: 1 };
const DAY_OF_WEEK: FieldDef = { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES, namesFrom: 0 };

/** Shorthands accepted in place of five fields. */
export const CRON_MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const FIELDS_HELP = 'minute hour day-of-month month day-of-week, with an optional seconds field first';

/**
 * Parses a 5-field (`minute hour day-of-month month day-of-week`) or 6-field (seconds first) cron
 * expression, or one of {@link CRON_MACROS}. Each field is `*`, a number, a name (`jan`-`dec`,
 * `sun`-`sat`, any case), a range `a-b`, a step `*\/n`, `a-b/n` or `a/n`, or a comma-separated list
 * of these. Never throws: problems come back as a message naming the field.
 */
export function parseCron(expression: string): CronParseResult {
  const source = expression;
  const trimmed = expression.trim();
  if (trimmed === '') return { ok: false, message: `empty cron expression: expected 5 fields (${FIELDS_HELP})` };
  let text = trimmed;
  if (text.startsWith('@')) {
    const macro = CRON_MACROS[text.toLowerCase()];
    if (macro === undefined) {
      return { ok: false, message: `unknown cron shorthand ${JSON.stringify(text)}; expected one of ${Object.keys(CRON_MACROS).join(', ')}` };
    }
    text = macro;
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    return {
      ok: false,
      message: `cron expression ${JSON.stringify(trimmed)} has ${parts.length} field(s); expected 5 (${FIELDS_HELP.replace(', with an optional seconds field first', '')}) or 6 (seconds first)`,
    };
  }
  const hasSeconds = parts.length === 6;
  const defs = hasSeconds ? [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK] : [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];
  const fields: CronField[] = [];
  const problems: string[] = [];
  defs.forEach((def, index) => {
    const result = parseField(parts[index] ?? '', def);
    if (typeof result === 'string') problems.push(result);
    else fields.push(result);
  });
  if (problems.length > 0) return { ok: false, message: problems.join('; ') };
  const all: CronField[] = hasSeconds ? fields : [{ values: [0], star: false }, ...fields];
  const [second, minute, hour, dayOfMonth, month, dayOfWeekRaw] = all as [CronField, CronField, CronField, CronField, CronField, CronField];
  // 7 is Sunday too.
  const weekdays = [...new Set(dayOfWeekRaw.values.map((value) => (value === 7 ? 0 : value)))].sort((a, b) => a - b);
  const dayOfWeek: CronField = { values: weekdays, star: dayOfWeekRaw.star };
  const cron: CronExpression = { source, hasSeconds, second, minute, hour, dayOfMonth, month, dayOfWeek };
  const never = neverFires(cron);
  if (never) return { ok: false, message: never };
  return { ok: true, cron };
}

function parseField(text: string, def: FieldDef): CronField | string {
  const where = `${def.name} field ${JSON.stringify(text)}`;
  const values = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') return `${where}: empty list item (check the commas)`;
    const [rangeText = '', stepText, extra] = item.split('/');
    if (extra !== undefined) return `${where}: "${item}" has more than one "/"`;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) return `${where}: step "${stepText}" must be a whole number`;
      step = Number(stepText);
      if (step < 1) return `${where}: step must be at least 1`;
      if (step > def.max - def.min + 1) return `${where}: step ${step} is larger than the field's range ${def.min}-${def.max}`;
    }
    let from: number;
    let to: number;
    if (rangeText === '*') {
      from = def.min;
      to = def.name === 'day-of-week' ? 6 : def.max;
    } else {
      const bounds = rangeText.split('-');
      if (bounds.length > 2) return `${where}: "${rangeText}" is not a value or a range a-b`;
      const low = parseValue(bounds[0] ?? '', def);
      if (typeof low === 'string') return `${where}: ${low}`;
      from = low;
      if (bounds.length === 2) {
        const high = parseValue(bounds[1] ?? '', def);
        if (typeof high === 'string') return `${where}: ${high}`;
        to = high;
        if (to < from) return `${where}: range ${rangeText} goes backwards; write it as ${to}-${from} or as a list`;
      } else {
        // `a/n` means from a to the end of the range.
        to = stepText === undefined ? from : def.name === 'day-of-week' ? 6 : def.max;
        if (stepText !== undefined && def.name === 'day-of-week' && from === 7) to = 7;
      }
    }
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return { values: [...values].sort((a, b) => a - b), star: text.startsWith('*') };
}

function parseValue(text: string, def: FieldDef): number | string {
  if (text === '') return 'a value is missing';
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value < def.min || value > def.max) return `${value} is out of range ${def.min}-${def.max}`;
    return value;
  }
  if (def.names) {
    const index = def.names.indexOf(text.toLowerCase());
    if (index >= 0) return index + (def.namesFrom ?? 0);
    return `unknown ${def.name === 'month' ? 'month' : 'day'} name "${text}"; use ${def.names[0]}-${def.names.at(-1)} or ${def.min}-${def.max}`;
  }
  return `"${text}" is not a number`;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** A message when the day fields can never match (e.g. `30 2` = February 30), else undefined. */
function neverFires(cron: CronExpression): string | undefined {
  // A restricted day-of-week matches some day of every month (alone, or as an alternative to the day-of-month).
  if (!cron.dayOfWeek.star) return undefined;
  const smallest = cron.dayOfMonth.values[0] ?? 1;
  const possible = cron.month.values.some((month) => smallest <= (DAYS_IN_MONTH[month - 1] ?? 31));
  if (possible) return undefined;
  const months = cron.month.values.map((month) => MONTH_NAMES[month - 1]).join(', ');
  return `day-of-month field: day ${smallest} never occurs in ${months}: this schedule would never fire`;
}

/** Whether the day (date and weekday) matches, with standard cron's rule for two restricted day fields. */
export function cronDayMatches(cron: CronExpression, day: number, weekday: number): boolean {
  const domOk = cron.dayOfMonth.values.includes(day);
  const dowOk = cron.dayOfWeek.values.includes(weekday);
  if (!cron.dayOfMonth.star && !cron.dayOfWeek.star) return domOk || dowOk;
  return domOk && dowOk;
}

/** Whether wall-clock fields match the expression (seconds included; 5-field expressions fire at second 0). */
export function cronMatches(cron: CronExpression, fields: WallFields): boolean {
  return (
    cron.second.values.includes(fields.second) &&
    cron.minute.values.includes(fields.minute) &&
    cron.hour.values.includes(fields.hour) &&
    cron.month.values.includes(fields.month) &&
    cronDayMatches(cron, fields.day, fields.weekday)
  );
}

/**
 * A message when `zone` is not a time zone this runtime knows (IANA names such as
 * `Europe/Berlin`, `America/New_York`, `UTC`), else undefined.
 */
export function timeZoneError(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(zone)}: use an IANA name such as Europe/Berlin, America/New_York or UTC`;
  }
}
