import type { Static, TSchema } from "@sinclair/typebox";
import type { Principal } from "../../app/context.ts";
import type { Reason } from "../../errors/reasons.ts";
import type { AccessSpec } from "../access-spec.ts";

export type HttpMethod = "get" | "post" | "delete";

/** What any route with `auth: true` may answer before its handler runs. */
export const AUTH_ERRORS = ["AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REVOKED"] as const;

/** What a handler answers: a JSON value, JSON text built by hand (hot paths), or other content. */
export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { status: number; json: string; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> };

export interface RouteCall<Params, Query, Body, Authenticated extends boolean> {
  params: Params;
  query: Query;
  body: Body;
  principal: Authenticated extends true ? Principal : Principal | undefined;
  /** The raw Authorization header ("" when absent), for routes that take other credentials than a user token. */
  authorization: string;
  ip: string;
  /** Aborts when the client goes away (long-polls stop waiting). */
  signal: AbortSignal;
}

export interface ResponseSpec {
  description: string;
  schema?: TSchema;
  contentType?: string;
}

/**
 * One REST route: its method and OpenAPI-style path, its schemas (used to
 * validate requests AND to generate /openapi.json) and its handler.
 */
export interface RouteDefinition<
  P extends TSchema = TSchema,
  Q extends TSchema = TSchema,
  B extends TSchema = TSchema,
  A extends boolean = boolean,
> {
  method: HttpMethod;
  /** OpenAPI path template, e.g. `/v1/queues/{name}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: A;
  /** Who may call it (docs/security.md); the authorization matrix test reads this. */
  access: AccessSpec;
  params?: P;
  query?: Q;
  body?: B;
  /** Documented responses by status; errors are added from `errors`. */
  responses: Record<number, ResponseSpec>;
  /** Error reasons this route can answer with (documented in OpenAPI). */
  errors: readonly Reason[];
  handle(call: RouteCall<Static<P>, Static<Q>, Static<B>, A>): Promise<Reply>;
}

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous route table erases each route's schema types.
export type AnyRoute = RouteDefinition<any, any, any, any>;

/** Keeps each route's schema types for its handler while collecting them in one list. */
export function defineRoute<P extends TSchema, Q extends TSchema, B extends TSchema, A extends boolean>(
  route: RouteDefinition<P, Q, B, A>,
): AnyRoute {
  return route as AnyRoute;
}

/** A listing page as the REST answer: `{<field>: items, next}` (docs/protocol.md "Paging"). */
export function pageReply(field: string, page: { items: unknown[]; next: string | null }): Reply {
  return { status: 200, body: { [field]: page.items, next: page.next } };
}
