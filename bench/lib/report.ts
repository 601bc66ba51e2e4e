/** One figure of a benchmark, printed next to its baseline from the same run. */
export interface Row {
  metric: string;
  value: number;
  unit: string;
  /** What the baseline is, e.g. "plain ws broadcast". */
  baseline?: string;
  baselineValue?: number;
  /** The target, or what limits the figure. */
  note?: string;
}

export interface Scenario {
  name: string;
  description: string;
  run(): Promise<Row[]>;
}

const format = (value: number | undefined) =>
  value === undefined
    ? ''
    : Number.isInteger(value)
      ? value.toLocaleString('en-US')
      : value.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** A plain-text table: metric, value, baseline, ratio, note. */
export function renderTable(scenario: string, rows: readonly Row[]): string {
  const lines = rows.map((row) => [
    row.metric,
    `${format(row.value)} ${row.unit}`,
    row.baseline ? `${format(row.baselineValue)} ${row.unit} (${row.baseline})` : '',
    row.baselineValue ? `${format(row.value / row.baselineValue)}×` : '',
    row.note ?? '',
  ]);
  const header = ['metric', 'value', 'baseline (same run)', 'ratio', 'note'];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => line[i]!.length)),
  );
  const render = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `\n== ${scenario}`,
    render(header),
    render(widths.map((w) => '-'.repeat(w))),
    ...lines.map(render),
  ].join('\n');
}
