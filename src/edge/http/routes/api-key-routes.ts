import type { Services } from "../../../app/services.ts";
import { anyUser } from "../../access-spec.ts";
import {
  ApiKeyIdParams,
  ApiKeyListView,
  CreateApiKeyBody,
  CreatedApiKeyView,
} from "../../api-key-schemas.ts";
import { ListQuery } from "../../schemas.ts";
import { type AnyRoute, defineRoute, pageReply } from "../route.ts";

const AUTH_ERRORS = ["AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED", "API_KEY_NOT_ALLOWED"] as const;

/** /v1/api-keys: service credentials (docs/security.md S14). */
export function apiKeyRoutes(services: Services): AnyRoute[] {
  const { apiKeys } = services;
  return [
    defineRoute({
      method: "post",
      path: "/v1/api-keys",
      operationId: "createApiKey",
      summary: "Create an API key for the caller; the answer is the only time the secret is shown.",
      tag: "api-keys",
      auth: true,
      // Any user, for their own keys (an operator revokes anyone's); never through an API key.
      access: anyUser,
      body: CreateApiKeyBody,
      responses: { 201: { description: "Created.", schema: CreatedApiKeyView } },
      errors: [...AUTH_ERRORS, "VALIDATION_FAILED", "INVALID_NAME"],
      handle: async ({ principal, body }) => ({ status: 201, body: await apiKeys.create(principal, body) }),
    }),
    defineRoute({
      method: "get",
      path: "/v1/api-keys",
      operationId: "listApiKeys",
      summary: "The caller's API keys, without secrets.",
      tag: "api-keys",
      auth: true,
      // Any user, for their own keys (an operator revokes anyone's); never through an API key.
      access: anyUser,
      query: ListQuery,
      responses: { 200: { description: "One page of keys, oldest first.", schema: ApiKeyListView } },
      errors: [...AUTH_ERRORS, "VALIDATION_FAILED"],
      handle: async ({ principal, query }) => pageReply("apiKeys", await apiKeys.list(principal, query)),
    }),
    defineRoute({
      method: "delete",
      path: "/v1/api-keys/{id}",
      operationId: "revokeApiKey",
      summary: "Revoke an API key (its user or an operator); it stops working at once on this node.",
      tag: "api-keys",
      auth: true,
      // Any user, for their own keys (an operator revokes anyone's); never through an API key.
      access: anyUser,
      params: ApiKeyIdParams,
      responses: { 204: { description: "Revoked." } },
      errors: [...AUTH_ERRORS, "API_KEY_NOT_FOUND"],
      handle: async ({ principal, params }) => {
        await apiKeys.revoke(principal, params.id);
        return { status: 204 };
      },
    }),
  ];
}
