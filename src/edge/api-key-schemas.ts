import { Type } from "@sinclair/typebox";
import { EpochMs, NextCursor, nameBounds, Permission } from "./schemas.ts";

/** Request and response shapes of /v1/api-keys (docs/protocol.md, docs/security.md S14). */

const closed = { additionalProperties: false } as const;

const ScopeEntry = Type.Object(
  {
    kind: Type.Union([Type.Literal("queue"), Type.Literal("topic")]),
    resource: Type.String({ ...nameBounds, description: "Queue or topic name." }),
    permissions: Type.Array(Permission, { minItems: 1, maxItems: 2 }),
  },
  closed,
);

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 100,
      description: "A label for people, e.g. `ci deploys`.",
    }),
    scope: Type.Optional(
      Type.Array(ScopeEntry, {
        maxItems: 100,
        description: "Resources and permissions the key is limited to; absent: whatever its user may do.",
      }),
    ),
    expiresInMs: Type.Optional(
      Type.Integer({ minimum: 1000, description: "Lifetime in milliseconds; absent: until revoked." }),
    ),
  },
  closed,
);

export const ApiKeyIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, closed);

const apiKeyFields = {
  id: Type.String(),
  name: Type.String(),
  scope: Type.Union([Type.Array(ScopeEntry), Type.Null()]),
  createdAt: EpochMs,
  expiresAt: Type.Union([EpochMs, Type.Null()]),
};

export const ApiKeyView = Type.Object(apiKeyFields);
export const CreatedApiKeyView = Type.Object({
  ...apiKeyFields,
  secret: Type.String({ description: "The key itself (`avk_…`): shown only in this answer." }),
});
export const ApiKeyListView = Type.Object({ apiKeys: Type.Array(ApiKeyView), next: NextCursor });
