import type { Code } from "./code.ts";
import { httpStatusOf } from "./http-status.ts";
import { isReroutable, type Reason, type Retry, reasons, retryOf } from "./reasons.ts";

export interface ErrorBody {
  code: Code;
  reason: Reason;
  message: string;
  retry?: Retry;
  details?: Record<string, unknown>;
}

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

  /** Whether the failed request may be sent again (see Retry). */
  get retry(): Retry {
    return retryOf(this.reason);
  }

  /** Whether a cluster node may retry the request on a new route once ownership settles. */
  get reroutable(): boolean {
    return isReroutable(this.reason);
  }

  /** The JSON body clients receive: `{error:{code,reason,message,retry?,details?}}` (`retry` only when not "never"). */
  toBody(): { error: ErrorBody } {
    const error: ErrorBody = { code: this.code, reason: this.reason, message: this.message };
    if (this.retry !== "never") error.retry = this.retry;
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
