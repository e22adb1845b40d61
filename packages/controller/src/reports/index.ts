/** Run reports: Markdown, a self-contained HTML page with a timeline chart, or the journal as JSON. */
import type { RunJournal } from '@faultline/shared';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { buildReport } from './model.js';

/** The formats of `faultline report --format`. */
export const REPORT_FORMATS = ['md', 'html', 'json'] as const;
/** A report format. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Renders a journal as a Markdown or HTML report, or as pretty JSON. */
export function renderReport(journal: RunJournal, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(journal, null, 2)}\n`;
    case 'md':
      return renderMarkdown(buildReport(journal));
    case 'html':
      return renderHtml(journal);
  }
}

export { timelineChart, type TimelineChart, type ChartSeries } from './timeline-chart.js';
