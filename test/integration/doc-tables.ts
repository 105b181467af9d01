// Docs that tests write: a section of a Markdown file between
//   <!-- generated: NAME (by TEST) -->  and  <!-- end: NAME -->
// holds a table a test built from what real clients did. The test compares the two, so the docs
// cannot drift from the behaviour; PGROUTER_UPDATE_DOCS=1 rewrites the section instead.
import fs from 'node:fs';

export const UPDATE_DOCS = process.env.PGROUTER_UPDATE_DOCS === '1';

/** The section's current text and what it should be; with PGROUTER_UPDATE_DOCS=1 the file is rewritten first. */
export function docSection(file: string, name: string, content: string): { committed: string; generated: string } {
  const text = fs.readFileSync(file, 'utf8');
  const begin = new RegExp(`<!-- generated: ${name} \\(by [^)]*\\) -->\\n`);
  const end = `<!-- end: ${name} -->`;
  const start = text.search(begin);
  const stop = text.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`${file} has no section "${name}" (<!-- generated: ${name} (by ...) --> ... ${end})`);
  const from = start + (begin.exec(text)?.[0].length ?? 0);
  const generated = `${content.trimEnd()}\n`;
  if (UPDATE_DOCS) fs.writeFileSync(file, text.slice(0, from) + generated + text.slice(stop));
  const now = fs.readFileSync(file, 'utf8');
  return { committed: now.slice(from, now.indexOf(end)), generated };
}

/** A Markdown table. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
