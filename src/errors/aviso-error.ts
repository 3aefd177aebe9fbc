import type { Code } from "./code.ts";
import { httpStatusOf } from "./http-status.ts";
import { type Reason, reasons } from "./reasons.ts";

/** The one error type Aviso throws and reports. */
export class AvisoError extends Error {
  override readonly name = "AvisoError";
  readonly code: Code;
  readonly reason: Reason;
  /** Extra machine-readable detail, sent to clients (e.g. validation paths). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    reason: Reason,
    message?: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(
      message ?? reasons[reason].summary,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.reason = reason;
    this.code = reasons[reason].code;
    this.details = options?.details;
  }

  get httpStatus(): number {
    return httpStatusOf[this.code];
  }

  /** The JSON body clients receive: `{error:{code,reason,message}}`. */
  toBody(): { error: { code: Code; reason: Reason; message: string; details?: Record<string, unknown> } } {
    const error: { code: Code; reason: Reason; message: string; details?: Record<string, unknown> } = {
      code: this.code,
      reason: this.reason,
      message: this.message,
    };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }

  /** Normalise anything thrown into an AvisoError; unknown failures become INTERNAL. */
  static from(thrown: unknown): AvisoError {
    if (thrown instanceof AvisoError) return thrown;
    return new AvisoError("INTERNAL", undefined, { cause: thrown });
  }
}

export function isAvisoError(value: unknown, reason?: Reason): value is AvisoError {
  return value instanceof AvisoError && (reason === undefined || value.reason === reason);
}
