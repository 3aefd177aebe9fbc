import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { AvisoError } from "../../errors/aviso-error.ts";
import { Code } from "../../errors/code.ts";
import { avisoErrorOf } from "./peer-codec.ts";

/**
 * AvisoError ⇄ gRPC status. The status code is chosen for gRPC tooling and
 * proxies; the stable reason travels in trailing metadata `aviso-reason`
 * (the message in the status details), so the caller rebuilds the very same
 * AvisoError and never has to parse text.
 */

export const REASON_KEY = "aviso-reason";
export const DETAILS_KEY = "aviso-details";

/** Exhaustive, so a new code cannot be forgotten. */
export const grpcStatusOf: Readonly<Record<Code, status>> = {
  [Code.InvalidArgument]: status.INVALID_ARGUMENT,
  [Code.Unauthenticated]: status.UNAUTHENTICATED,
  [Code.PermissionDenied]: status.PERMISSION_DENIED,
  [Code.NotFound]: status.NOT_FOUND,
  [Code.MethodNotAllowed]: status.UNIMPLEMENTED,
  [Code.AlreadyExists]: status.ALREADY_EXISTS,
  [Code.PayloadTooLarge]: status.INVALID_ARGUMENT,
  [Code.UnsupportedMediaType]: status.INVALID_ARGUMENT,
  [Code.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [Code.Unavailable]: status.UNAVAILABLE,
  [Code.Internal]: status.INTERNAL,
};

/** What a server handler hands grpc-js to fail a call. */
export function toServiceError(thrown: unknown): Partial<ServiceError> {
  const error = AvisoError.from(thrown);
  const metadata = new Metadata();
  metadata.set(REASON_KEY, error.reason);
  if (error.details !== undefined) metadata.set(DETAILS_KEY, JSON.stringify(error.details));
  return { code: grpcStatusOf[error.code], details: error.message, metadata };
}

/** A refusal that is not an AvisoError on purpose: no reason, so the caller treats the peer as unusable. */
export function unauthenticatedError(): Partial<ServiceError> {
  return {
    code: status.UNAUTHENTICATED,
    details: "Missing or wrong cluster secret.",
    metadata: new Metadata(),
  };
}

/**
 * The AvisoError behind a failed call. With an `aviso-reason` the server
 * answered; without one the failure is the link's (peer down, connection
 * reset, deadline, wrong secret, version skew) and becomes OWNER_UNAVAILABLE,
 * which the routing layer treats as "find the serving node again and retry".
 */
export function fromServiceError(error: ServiceError, peerUrl: string): AvisoError {
  const reason = firstString(error.metadata?.get(REASON_KEY));
  if (reason !== undefined) {
    return avisoErrorOf(reason, error.details, firstString(error.metadata?.get(DETAILS_KEY)));
  }
  if (error.code === status.RESOURCE_EXHAUSTED) {
    // grpc-js's own refusal of a message over the size limit.
    return new AvisoError("PAYLOAD_TOO_LARGE", error.details, { cause: error });
  }
  return peerUnavailable(peerUrl, `${status[error.code] ?? error.code}: ${error.details}`, error);
}

export function peerUnavailable(peerUrl: string, why: string, cause?: unknown): AvisoError {
  return new AvisoError("OWNER_UNAVAILABLE", `Peer ${peerUrl} is unavailable (${why}).`, { cause });
}

function firstString(values: readonly (string | Buffer)[] | undefined): string | undefined {
  const value = values?.[0];
  return typeof value === "string" ? value : undefined;
}
