import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Principal } from "../../app/context.ts";
import type { UserService } from "../../app/users.ts";
import type { Config } from "../../config/schema.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { logEvents } from "../../log/events.ts";
import type { Logger } from "../../log/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { createQueryValidator, createValidator, type Validator } from "../validation.ts";
import { openBody, type PendingBody, parseJsonBody } from "./request-body.ts";
import { errorReply, writeReply } from "./respond.ts";
import type { AnyRoute, Reply } from "./route.ts";

export interface MountDeps {
  config: Config;
  users: UserService;
  log: Logger;
  metrics: Metrics;
  /** While true every route answers 503 SHUTTING_DOWN. */
  isShuttingDown(): boolean;
}

interface CompiledRoute {
  route: AnyRoute;
  paramNames: string[];
  params: Validator<unknown> | undefined;
  query: Validator<unknown> | undefined;
  body: Validator<unknown> | undefined;
  matcher: RegExp;
}

/** Registers every route on the uWS app, plus 404/405 and CORS preflight answers. */
export function mountRoutes(app: TemplatedApp, routes: readonly AnyRoute[], deps: MountDeps): void {
  const compiled = routes.map(compileRoute);
  const corsHeaders = corsHeadersFor(deps.config.corsOrigin);
  for (const entry of compiled) {
    const uwsPath = entry.route.path.replace(/\{(\w+)\}/g, ":$1");
    const register = entry.route.method === "delete" ? app.del.bind(app) : app[entry.route.method].bind(app);
    register(uwsPath, (res, req) => serve(entry, res, req, deps, corsHeaders));
  }
  app.options("/*", (res) => {
    writeReply(
      res,
      {
        status: 204,
        headers: {
          "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
          "Access-Control-Allow-Headers": "Authorization, Content-Type",
          "Access-Control-Max-Age": "600",
        },
      },
      corsHeaders,
      () => false,
    );
  });
  app.any("/*", (res, req) => {
    const path = req.getUrl();
    const method = req.getMethod().toLowerCase();
    const allowed = new Set(
      compiled.filter((entry) => entry.matcher.test(path)).map((entry) => entry.route.method as string),
    );
    // A method the path allows only reaches here when the path differs (a trailing slash): not a route.
    if (allowed.size === 0 || allowed.has(method)) {
      const notFound = new AvisoError("ROUTE_NOT_FOUND", `No route ${path}.`);
      writeReply(res, errorReply(notFound), corsHeaders, () => false);
      return;
    }
    const reply = errorReply(
      new AvisoError("METHOD_NOT_ALLOWED", `${method.toUpperCase()} is not supported on ${path}.`),
    );
    // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
    const allow = [...allowed].map((name) => name.toUpperCase()).join(", ");
    writeReply(res, { ...reply, headers: { ...reply.headers, Allow: allow } }, corsHeaders, () => false);
  });
}

function compileRoute(route: AnyRoute): CompiledRoute {
  const paramNames = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  const pattern = route.path
    .split("/")
    .map((segment) => (/^\{\w+\}$/.test(segment) ? "[^/]+" : segment.replace(/[.*+?^$()|[\]\\]/g, "\\$&")))
    .join("/");
  return {
    route,
    paramNames,
    params: route.params === undefined ? undefined : createValidator(route.params),
    query: route.query === undefined ? undefined : createQueryValidator(route.query),
    body: route.body === undefined ? undefined : createValidator(route.body),
    matcher: new RegExp(`^${pattern}/?$`),
  };
}

const noStore = { "Cache-Control": "no-store" } as const;

function corsHeadersFor(origin: string): Record<string, string> {
  return origin === "" ? {} : { "Access-Control-Allow-Origin": origin, Vary: "Origin" };
}

function serve(
  entry: CompiledRoute,
  res: HttpResponse,
  req: HttpRequest,
  deps: MountDeps,
  corsHeaders: Record<string, string>,
): void {
  // Everything from req must be read now: it is only valid during this callback.
  const rawParams: Record<string, string> = {};
  entry.paramNames.forEach((name, index) => {
    rawParams[name] = req.getParameter(index) ?? "";
  });
  const rawQuery = req.getQuery() ?? "";
  const authorization = req.getHeader("authorization");
  const contentType = req.getHeader("content-type");
  const contentLength = req.getHeader("content-length");
  const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
  const abort = new AbortController();
  res.onAborted(() => abort.abort());
  const aborted = () => abort.signal.aborted;
  // The body handler must be registered now (uWS drops chunks nobody listens for), but
  // nothing is read past the first packet until the token is checked (S10).
  const declared = contentLength === "" ? undefined : Number(contentLength);
  const pending =
    entry.body === undefined ? undefined : openBody(res, deps.config.maxBodyBytes, declared, aborted);
  if (entry.route.auth) pending?.pause();
  // A body left unread (refused before it was needed, or sent to a route that takes none) is
  // never read: the reply closes the connection instead of draining it.
  const bodyLeftUnread = () => (pending === undefined ? (declared ?? 0) > 0 : !pending.reusable);

  handle(entry, deps, { rawParams, rawQuery, authorization, contentType, ip }, pending, abort.signal)
    .catch((thrown: unknown) => {
      const error = AvisoError.from(thrown);
      logEvents.requestFailed(deps.log, {
        method: entry.route.method,
        route: entry.route.path,
        status: error.httpStatus,
        reason: error.reason,
        ...(error.reason === "INTERNAL" ? { err: thrown } : {}),
      });
      return errorReply(error);
    })
    .then((reply) => {
      deps.metrics.httpRequests.inc({ route: entry.route.path, status: reply.status });
      // S13: nothing answered to credentials is kept by a cache on the way.
      const credentialed = entry.route.auth || authorization !== "";
      writeReply(
        res,
        reply,
        credentialed ? { ...corsHeaders, ...noStore } : corsHeaders,
        aborted,
        bodyLeftUnread(),
      );
    });
}

interface RawRequest {
  rawParams: Record<string, string>;
  rawQuery: string;
  authorization: string;
  contentType: string;
  ip: string;
}

async function handle(
  entry: CompiledRoute,
  deps: MountDeps,
  raw: RawRequest,
  pending: PendingBody | undefined,
  signal: AbortSignal,
): Promise<Reply> {
  const { route } = entry;
  if (deps.isShuttingDown()) throw new AvisoError("SHUTTING_DOWN");
  const queryObject = Object.fromEntries(new URLSearchParams(raw.rawQuery));
  if ("token" in queryObject || "access_token" in queryObject) throw new AvisoError("TOKEN_IN_URL");
  // Who is asking, before the body: a caller without a valid token learns nothing about its
  // request but 401, and costs no more than its headers.
  let principal: Principal | undefined;
  if (route.auth) {
    principal = await authenticate(raw.authorization, deps.users);
    pending?.resume();
  }
  const body = await pending?.body;
  let bodyValue: unknown;
  if (entry.body !== undefined && body !== undefined) {
    if (body.length > 0 && !/^application\/json\b/i.test(raw.contentType)) {
      throw new AvisoError("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.");
    }
    bodyValue = entry.body.check(parseJsonBody(body), "body");
  }
  const decodedParams = decodeParams(raw.rawParams);
  const params = entry.params === undefined ? decodedParams : entry.params.check(decodedParams, "path");
  const query = entry.query === undefined ? {} : entry.query.check(queryObject, "query");
  return route.handle({
    params,
    query,
    body: bodyValue,
    principal,
    authorization: raw.authorization,
    ip: raw.ip,
    signal,
  });
}

/** Decodes path parameters here, not in the uWS callback: a throw there (bad `%` escapes) kills the process. */
function decodeParams(raw: Record<string, string>): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    try {
      decoded[name] = decodeURIComponent(value);
    } catch {
      throw new AvisoError("VALIDATION_FAILED", `Invalid path: /${name} is not valid percent-encoding.`, {
        details: { problems: [{ path: `/${name}`, message: "Invalid percent-encoding" }] },
      });
    }
  }
  return decoded;
}

/** The token of an `Authorization: Bearer <token>` header; AUTH_REQUIRED otherwise. */
export function bearerToken(authorization: string): string {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (match === null) {
    throw new AvisoError(
      "AUTH_REQUIRED",
      authorization === ""
        ? "Send `Authorization: Bearer <token>`."
        : "Authorization must be `Bearer <token>`.",
    );
  }
  return match[1] as string;
}

function authenticate(authorization: string, users: UserService): Promise<Principal> {
  return users.authenticate(bearerToken(authorization));
}
