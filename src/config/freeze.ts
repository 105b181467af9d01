// The Config is shared by every part of the process (and copied to workers); freezing it makes
// an accidental write throw in strict mode (all ESM is strict) instead of drifting silently.
// The types already say readonly; this makes it true at run time.

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
