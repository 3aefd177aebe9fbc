import type { Permission, ResourceKind } from "../broker/types.ts";

/** One resource an API key may use, and how (docs/security.md S14). */
export interface ApiKeyScopeEntry {
  kind: ResourceKind;
  /** The queue or topic name. */
  resource: string;
  permissions: Permission[];
}

/** A stored API key: never the secret, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  username: string;
  name: string;
  /** Hex SHA-256 of the whole secret (`avk_…`). */
  secretHash: string;
  /** null: everything its user may do, except managing keys and users. */
  scope: ApiKeyScopeEntry[] | null;
  createdAt: number;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
}
