/**
 * The median run, figure by figure: every number is the median of that number over the runs (a ratio is the
 * median of the runs' ratios, not a ratio of medians); arrays of one length go element by element; anything
 * else is the first run's.
 */
export function median<T>(runs: T[]): T {
  const first = runs[0]!;
  if (typeof first === 'number') {
    const sorted = (runs as number[]).slice().sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return (sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2) as T;
  }
  if (Array.isArray(first)) {
    const arrays = runs as unknown[][];
    if (arrays.some((array) => array.length !== first.length)) return first;
    return first.map((_, index) => median(arrays.map((array) => array[index]))) as T;
  }
  if (first && typeof first === 'object') {
    const objects = runs as Record<string, unknown>[];
    return Object.fromEntries(Object.keys(first).map((key) => [key, objects.every((object) => key in object) ? median(objects.map((object) => object[key])) : (first as Record<string, unknown>)[key]])) as T;
  }
  return first;
}
