/**
 * How Python reads what a JSON API answers, for tests that hold the emulators to the vendors' Python examples:
 * in JavaScript a missing key reads as undefined and a test passes that the example would crash on.
 */

/** `response.raise_for_status()`: a 4xx or 5xx raises. */
export function raiseForStatus(response: Response): void {
  if (response.status >= 400) throw new Error(`${response.status} Error for url: ${response.url}`);
}

/** `value.get(key)` in Python: only a dict has it (a list or a string raises AttributeError). */
export function pythonGet(value: unknown, key: string, fallback: unknown = null): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`'${Array.isArray(value) ? 'list' : typeof value}' object has no attribute 'get'`);
  }
  return key in value ? (value as Record<string, unknown>)[key] : fallback;
}

/** `value[key]` in Python: KeyError when the key is missing (JavaScript would read undefined). */
export function pythonIndex(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null || !(key in value)) throw new Error(`KeyError: '${key}'`);
  return (value as Record<string, unknown>)[key];
}

/** Python truthiness of a JSON value (`if not next_offset:`). */
export function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}
