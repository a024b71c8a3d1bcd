/** One figure of the benchmark: what was measured, against which target and which baseline of the same run. */

export interface Baseline {
  /** What the baseline is, e.g. "critical path (same plan, same durations)". */
  name: string;
  value: number;
  unit: string;
}

export interface Figure {
  /** Stable key in results.json. */
  id: string;
  /** The row of issue 11's table it answers. */
  name: string;
  value: number | null;
  unit: string;
  /** The target, as the issue states it. */
  target: string;
  /** Whether the target is met; null when the target is "reported" or the figure could not be taken. */
  met: boolean | null;
  baseline: Baseline | null;
  /** value / baseline.value. */
  ratio: number | null;
  /** The command that produced it. */
  command: string;
  /** What the value means, how it was taken, and why a target is missed. */
  note: string;
  details?: Record<string, unknown>;
}

export interface FigureInput {
  id: string;
  name: string;
  value: number | null;
  unit: string;
  target: string;
  /** Checks the value (or the ratio, when `onRatio`) against the target; absent: reported only. */
  check?: (value: number) => boolean;
  onRatio?: boolean;
  baseline?: Baseline | null;
  /** A ratio of its own (e.g. the median of per-sample ratios), in place of value / baseline. */
  ratio?: number | null;
  note?: string;
  details?: Record<string, unknown>;
}

/** Builds figures, each naming the command (`npm run bench -- <flags>`) that reproduces its scenario. */
export class Figures {
  readonly list: Figure[] = [];

  constructor(private readonly commandOf: (scenario: string) => string) {}

  add(scenario: string, input: FigureInput): Figure {
    const baseline = input.baseline ?? null;
    const ratio =
      input.ratio !== undefined
        ? input.ratio
        : input.value !== null && baseline !== null && baseline.value !== 0 && Number.isFinite(baseline.value)
          ? input.value / baseline.value
          : null;
    const checked = input.onRatio ? ratio : input.value;
    const figure: Figure = {
      id: input.id,
      name: input.name,
      value: input.value,
      unit: input.unit,
      target: input.target,
      met: input.check && checked !== null && Number.isFinite(checked) ? input.check(checked) : null,
      baseline,
      ratio,
      command: this.commandOf(scenario),
      note: input.note ?? '',
      ...(input.details ? { details: input.details } : {}),
    };
    this.list.push(figure);
    return figure;
  }
}

/** A number as the report shows it: 3 significant digits (none lost below 1), thousands grouped. */
export function show(value: number | null, unit = ''): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const text =
    abs > 0 && abs < 1
      ? value.toLocaleString('en-US', { maximumSignificantDigits: 3 })
      : value.toLocaleString('en-US', { maximumFractionDigits: abs >= 100 ? 0 : abs >= 10 ? 1 : 2 });
  return unit === '' ? text : `${text} ${unit}`;
}
