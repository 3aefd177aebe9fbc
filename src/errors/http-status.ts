import { Code } from "./code.ts";

/** HTTP status for every code; exhaustive so a new code cannot be forgotten. */
export const httpStatusOf: Readonly<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.MethodNotAllowed]: 405,
  [Code.AlreadyExists]: 409,
  [Code.PayloadTooLarge]: 413,
  [Code.UnsupportedMediaType]: 415,
  [Code.ResourceExhausted]: 429,
  [Code.Unavailable]: 503,
  [Code.Internal]: 500,
};

export const httpStatusText: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};
