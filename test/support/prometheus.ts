// Reading perch's /metrics in tests with a real Prometheus text-format parser
// (parse-prometheus-text-format).
//
// That parser folds every series of a histogram family into one sample and
// drops their labels (it only handles histograms without labels). So the
// text is parsed twice: as it is (family names, HELP and TYPE), and with the
// histogram TYPE lines read as untyped, which makes the parser return each
// `_bucket`, `_sum` and `_count` sample with its own labels, parsed and
// unescaped by the same code.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

type Family = ReturnType<typeof parsePrometheusTextFormat>[number];
export type Sample = Family['metrics'][number];

export interface Metrics {
  /** The families as the parser reads them. */
  families: Family[];
  /** The same text with histograms read sample by sample (`<name>_bucket` families and so on). */
  flat: Family[];
}

export function parseMetrics(text: string): Metrics {
  return {
    families: parsePrometheusTextFormat(text),
    flat: parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped')),
  };
}

export function family(metrics: Metrics, name: string): Family | undefined {
  return metrics.families.find((candidate) => candidate.name === name);
}

/** The samples named `name` whose labels include all of `labels`. */
export function samples(metrics: Metrics, name: string, labels: Record<string, string> = {}): Sample[] {
  const found = metrics.flat.filter((candidate) => candidate.name === name).flatMap((candidate) => candidate.metrics);
  return found.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
}

/** The value of the one sample with these labels (0 when there is none). */
export function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): number {
  const found = samples(metrics, name, labels);
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples, expected one`);
  return found.length === 0 ? 0 : Number(found[0]!.value);
}

/** Every sample named `name` as "label=value,…" → value, for whole-family comparisons. */
export function seriesOf(metrics: Metrics, name: string, labelNames: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples(metrics, name)) {
    const key = labelNames.map((label) => `${label}=${sample.labels?.[label] ?? ''}`).join(',');
    if (key in out) throw new Error(`${name}: two samples for ${key}`);
    out[key] = Number(sample.value);
  }
  return out;
}

/** One histogram series as numbers: its _count, _sum and cumulative _bucket values by `le`; null when absent. */
export function histogram(metrics: Metrics, name: string, labels: Record<string, string>): { count: number; sum: number; buckets: Record<string, number> } | null {
  if (family(metrics, name)?.type !== 'HISTOGRAM') throw new Error(`${name} is not a histogram family`);
  const counts = samples(metrics, `${name}_count`, labels);
  if (counts.length === 0) return null;
  if (counts.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${counts.length} series, expected one`);
  const exact = counts[0]!.labels ?? {};
  const same = (sample: Sample): boolean => Object.entries(exact).every(([key, v]) => sample.labels?.[key] === v) && Object.keys(sample.labels ?? {}).filter((key) => key !== 'le').length === Object.keys(exact).length;
  const buckets: Record<string, number> = {};
  for (const sample of samples(metrics, `${name}_bucket`).filter(same)) buckets[sample.labels!.le!] = Number(sample.value);
  const sum = samples(metrics, `${name}_sum`).filter(same);
  return { count: Number(counts[0]!.value), sum: Number(sum[0]?.value), buckets };
}
