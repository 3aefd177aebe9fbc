/** Small helpers over node:util parseArgs values: numbers and choices with clear errors. */

export function numberArg(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`--${name} must be a non-negative number, got ${String(raw)}`);
  return value;
}

/** A rate flag: a number of messages per second, or "max" / absent for unpaced. */
export function rateArg(values: Record<string, unknown>, name: string): number | null {
  const raw = values[name];
  if (raw === undefined || raw === "max") return null;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number or "max"`);
  return value;
}

export function choiceArg<T extends string>(
  values: Record<string, unknown>,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const found = choices.find((choice) => choice === raw);
  if (found === undefined)
    throw new Error(`--${name} must be one of ${choices.join(", ")}, got ${String(raw)}`);
  return found;
}

export function optionalString(values: Record<string, unknown>, name: string): string | undefined {
  const raw = values[name];
  return typeof raw === "string" ? raw : undefined;
}

/** parseArgs options for flags that all take a value: `{ name: { type: "string" } }` for each name. */
export function stringFlags<Name extends string>(names: readonly Name[]): Record<Name, { type: "string" }> {
  return Object.fromEntries(names.map((name) => [name, { type: "string" as const }])) as Record<
    Name,
    { type: "string" }
  >;
}
