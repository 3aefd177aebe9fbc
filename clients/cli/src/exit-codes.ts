import { AvisoClientError } from "@aviso/client";

/**
 * Exit codes scripts can rely on (documented in clients/cli/README.md).
 * They follow the error's `code`, so every server reason has one.
 */
export const ExitCode = {
  Ok: 0,
  /** Anything else: a server error (5xx) or an unexpected failure. */
  Failure: 1,
  /** Bad usage or input: unknown command or option, invalid argument, 400 from the node. */
  Usage: 2,
  /** Not logged in, wrong password, expired token (401). */
  Auth: 3,
  /** No such queue, topic, user or subscription (404). */
  NotFound: 4,
  /** Not allowed: not the creator, no grant (403). */
  Forbidden: 5,
  /** Already exists (409). */
  Conflict: 6,
  /** Unreachable, timed out, unavailable or rate limited (429, 503): try again later. */
  Unavailable: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeOf(error: unknown): ExitCodeValue {
  if (!(error instanceof AvisoClientError)) return ExitCode.Failure;
  switch (error.code) {
    case "invalid_argument":
    case "payload_too_large":
    case "unsupported_media_type":
    case "method_not_allowed":
      return ExitCode.Usage;
    case "unauthenticated":
      return ExitCode.Auth;
    case "not_found":
      return ExitCode.NotFound;
    case "permission_denied":
      return ExitCode.Forbidden;
    case "already_exists":
      return ExitCode.Conflict;
    case "unavailable":
    case "deadline_exceeded":
    case "resource_exhausted":
      return ExitCode.Unavailable;
    default:
      return ExitCode.Failure;
  }
}

/** A problem with how the command was called, found before anything was sent. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
