import { randomBytes } from "node:crypto";
import { hashApiKeySecret, newApiKeySecret } from "../auth/api-key-secret.ts";
import type { Permission } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { ApiKeyRecord, ApiKeyScopeEntry } from "../store/api-key-record.ts";
import type { ApiKeyPosition, KeyPage } from "../store/key-page.ts";
import { assertNotApiKey } from "./access.ts";
import type { AppContext, Principal } from "./context.ts";
import { type Page, type PageRequest, pagerOf } from "./list-page.ts";
import { assertValidName } from "./names.ts";

export interface CreateApiKeyInput {
  name: string;
  scope?: ApiKeyScopeEntry[];
  expiresInMs?: number;
}

/** A key as its user sees it: never the secret, never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  scope: ApiKeyScopeEntry[] | null;
  createdAt: number;
  expiresAt: number | null;
}

/** API keys for services (docs/security.md S14): created and listed by their user, revoked by it or an operator. */
export class ApiKeyService {
  private readonly revokedListeners = new Set<(id: string) => void>();

  constructor(private readonly ctx: AppContext) {}

  /** The only answer that ever holds the secret. */
  async create(principal: Principal, input: CreateApiKeyInput): Promise<ApiKeyView & { secret: string }> {
    assertNotApiKey(principal, "create API keys");
    const scope = input.scope === undefined ? null : input.scope.map((entry) => this.scopeEntry(entry));
    const createdAt = this.ctx.clock.now();
    const secret = newApiKeySecret();
    const record: ApiKeyRecord = {
      id: `key_${randomBytes(12).toString("hex")}`,
      username: principal.username,
      name: input.name,
      secretHash: hashApiKeySecret(secret),
      scope,
      createdAt,
      expiresAt: input.expiresInMs === undefined ? null : createdAt + input.expiresInMs,
    };
    await this.ctx.store.createApiKey(record);
    return { ...view(record), secret };
  }

  /** One page of the caller's keys, oldest first (src/app/list-page.ts). */
  async list(principal: Principal, request: PageRequest = {}): Promise<Page<ApiKeyView>> {
    assertNotApiKey(principal, "list API keys");
    const { username } = principal;
    return pagerOf(this.ctx).page(`api-keys:${username}`, request, {
      read: (page: KeyPage<ApiKeyPosition>) => this.ctx.store.listApiKeys(username, page),
      keyOf: (record: ApiKeyRecord): ApiKeyPosition => ({ createdAt: record.createdAt, id: record.id }),
      admit: view,
    });
  }

  /** Its user or an operator; anyone else gets the same answer as for a key that does not exist. */
  async revoke(principal: Principal, id: string): Promise<void> {
    assertNotApiKey(principal, "revoke API keys");
    const record = await this.ctx.store.getApiKey(id);
    if (record === undefined || (record.username !== principal.username && !principal.operator)) {
      throw new AvisoError("API_KEY_NOT_FOUND", "You hold no API key with that id.");
    }
    await this.ctx.store.deleteApiKey(id);
    this.ctx.credentials.forgetApiKey(record.secretHash);
    for (const listener of this.revokedListeners) listener(id);
  }

  /** Those of `ids` that no longer exist (revoked here or on another node): a live re-check for sockets. */
  async revokedAmong(ids: Iterable<string>): Promise<string[]> {
    const revoked: string[] = [];
    for (const id of ids) if ((await this.ctx.store.getApiKey(id)) === undefined) revoked.push(id);
    return revoked;
  }

  /** Called with a key's id once it is revoked here, so live sockets it opened can close. */
  onRevoked(listener: (id: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  private scopeEntry(entry: ApiKeyScopeEntry): ApiKeyScopeEntry {
    assertValidName(entry.kind, entry.resource, this.ctx.config.maxNameLength);
    const permissions = [...new Set<Permission>(entry.permissions)].sort();
    return { kind: entry.kind, resource: entry.resource, permissions };
  }
}

function view(record: ApiKeyRecord): ApiKeyView {
  const { id, name, scope, createdAt, expiresAt } = record;
  return { id, name, scope, createdAt, expiresAt };
}
