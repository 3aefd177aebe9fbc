/**
 * Who may call a route or WebSocket op, declared next to it
 * (docs/security.md, rule S1). The authorization matrix test reads these
 * declarations, so a new route or op cannot go untested; the rules
 * themselves live in src/app/access.ts.
 */
export type AccessSpec =
  /** No token needed. */
  | { who: "anyone" }
  /** Any authenticated user. */
  | { who: "user" }
  /** A user the `operators` setting names. */
  | { who: "operator" }
  /** Needs `needs` on the queue or topic the call names: see (list/get), publish, consume, or being its creator. */
  | { who: "resource"; kind: "queue" | "topic"; needs: "see" | "publish" | "consume" | "creator" };

export const anyone: AccessSpec = { who: "anyone" };
export const anyUser: AccessSpec = { who: "user" };
export const operatorOnly: AccessSpec = { who: "operator" };
export const onResource = (
  kind: "queue" | "topic",
  needs: "see" | "publish" | "consume" | "creator",
): AccessSpec => ({ who: "resource", kind, needs });
