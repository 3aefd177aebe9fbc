/**
 * A startup error: the configuration is wrong. Deliberately not an
 * AvisoError — no client ever sees it; the operator does, once, with every
 * problem listed so one restart fixes them all.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Each problem as one human-readable line. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`Invalid configuration (${count}):\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.problems = Object.freeze([...problems]);
  }
}
