import type { ApiKeyRecord, ApiKeyScopeEntry } from "./api-key-record.ts";

/** One row of `api_keys` (migration 004), as both backends return it. */
export interface ApiKeyRow {
  id: string;
  username: string;
  name: string;
  secret_hash: string;
  scope: string | null;
  created_at: number | string;
  expires_at: number | string | null;
}

export const apiKeyColumns = "id, username, name, secret_hash, scope, created_at, expires_at";

export function apiKeyValues(key: ApiKeyRecord): (string | number | null)[] {
  return [
    key.id,
    key.username,
    key.name,
    key.secretHash,
    key.scope === null ? null : JSON.stringify(key.scope),
    key.createdAt,
    key.expiresAt,
  ];
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    secretHash: row.secret_hash,
    scope: row.scope === null ? null : (JSON.parse(row.scope) as ApiKeyScopeEntry[]),
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}
