import type { TSchema } from "@sinclair/typebox";
import { httpStatusOf } from "../../errors/http-status.ts";
import { type Reason, reasons } from "../../errors/reasons.ts";
import { ErrorView } from "../schemas.ts";
import type { AnyRoute } from "./route.ts";

type JsonObject = Record<string, unknown>;

/** TypeBox schemas are JSON Schema already; drop TypeBox's symbol keys by round-tripping. */
function jsonSchema(schema: TSchema): JsonObject {
  return JSON.parse(JSON.stringify(schema)) as JsonObject;
}

function errorResponses(route: AnyRoute): Record<string, JsonObject> {
  const byStatus = new Map<number, Reason[]>();
  const all = new Set<Reason>([...route.errors, "INTERNAL", "SHUTTING_DOWN", "STORE_UNAVAILABLE"]);
  if (route.body !== undefined) {
    for (const reason of ["BAD_JSON", "BODY_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"] as const) all.add(reason);
  }
  for (const reason of all) {
    const status = httpStatusOf[reasons[reason].code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), reason]);
  }
  const responses: Record<string, JsonObject> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] = {
      description: `Error; reason is one of ${list.map((reason) => `\`${reason}\``).join(", ")}.`,
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  return responses;
}

function operation(route: AnyRoute): JsonObject {
  const parameters: JsonObject[] = [];
  const params = route.params as TSchema | undefined;
  for (const [name, schema] of Object.entries((params?.properties ?? {}) as Record<string, TSchema>)) {
    parameters.push({ name, in: "path", required: true, schema: jsonSchema(schema) });
  }
  const query = route.query as TSchema | undefined;
  const required = new Set<string>((query?.required as string[] | undefined) ?? []);
  for (const [name, schema] of Object.entries((query?.properties ?? {}) as Record<string, TSchema>)) {
    parameters.push({ name, in: "query", required: required.has(name), schema: jsonSchema(schema) });
  }
  const responses: Record<string, JsonObject> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    responses[status] =
      spec.schema === undefined
        ? { description: spec.description }
        : {
            description: spec.description,
            content: { [spec.contentType ?? "application/json"]: { schema: jsonSchema(spec.schema) } },
          };
  }
  Object.assign(responses, errorResponses(route));
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(route.auth ? {} : { security: [] }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { "application/json": { schema: jsonSchema(route.body) } },
          },
        }),
    responses,
  };
}

/** The OpenAPI 3.1 document of every REST route, generated from the same schemas that validate requests. */
export function buildOpenApi(routes: readonly AnyRoute[], version: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method] = operation(route);
    paths[route.path] = item;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Aviso",
      version,
      description:
        "Push-first message broker: queues with acks and topics with replay. " +
        "The WebSocket protocol at /v1/ws is described in docs/protocol.md.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: { Error: jsonSchema(ErrorView) },
    },
    paths,
  };
}
