/** A plain-text table: columns padded to their widest cell, numbers right-aligned. */
export interface Row {
  section: string;
  metric: string;
  value: string;
  target?: string;
  /** undefined: informational, no target. */
  met?: boolean;
}

export function renderTable(rows: Row[]): string {
  const header = { section: 'part', metric: 'figure', value: 'value', target: 'target', mark: '' };
  const cells = rows.map((row) => ({
    section: row.section,
    metric: row.metric,
    value: row.value,
    target: row.target ?? '',
    mark: row.met === undefined ? '' : row.met ? '✓' : '✗',
  }));
  const all = [header, ...cells];
  const width = (key: keyof typeof header) => Math.max(...all.map((cell) => cell[key].length));
  const widths = { section: width('section'), metric: width('metric'), value: width('value'), target: width('target') };
  const line = (cell: typeof header) =>
    `${cell.section.padEnd(widths.section)}  ${cell.metric.padEnd(widths.metric)}  ${cell.value.padStart(widths.value)}  ${cell.target.padEnd(widths.target)}  ${cell.mark}`.trimEnd();
  const rule = '-'.repeat(widths.section + widths.metric + widths.value + widths.target + 10);
  const out = [line(header), rule];
  let previous = '';
  for (const cell of cells) {
    if (previous && cell.section !== previous) out.push('');
    out.push(line({ ...cell, section: cell.section === previous ? '' : cell.section }));
    previous = cell.section;
  }
  return out.join('\n');
}

export const MiB = 1024 * 1024;
export const fmt = {
  int: (value: number) => Math.round(value).toLocaleString('en-US'),
  fixed: (value: number, digits = 1) => value.toFixed(digits),
  mib: (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`,
  mb: (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`,
  usd: (value: number) => `$${value.toFixed(value < 0.01 ? 6 : 4)}`,
};
