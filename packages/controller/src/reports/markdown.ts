import type { ReportDoc } from './model.js';

function mdCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Renders a report as Markdown. */
export function renderMarkdown(doc: ReportDoc): string {
  const mdTable = (headers: string[], rows: string[][]) =>
    [`| ${headers.map(mdCell).join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(mdCell).join(' | ')} |`)].join('\n');
  const blocks: string[] = [`# ${doc.title}`, mdTable(['', ''], doc.facts)];
  for (const section of doc.sections) {
    blocks.push(`## ${section.title}`);
    for (const p of section.paragraphs ?? []) blocks.push(p);
    if (section.table) blocks.push(mdTable(section.table.headers, section.table.rows));
    if (section.list) blocks.push(section.list.map((item) => `- ${item.replace(/\r?\n/g, ' ')}`).join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}
