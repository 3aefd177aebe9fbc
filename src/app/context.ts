import type { LoginLimiter } from "../auth/login-limiter.ts";
import type { PasswordHasher } from "../auth/password-pool.ts";
import type { RegistrationLimiter } from "../auth/registration-limiter.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { ResourceKind } from "../broker/types.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Clock } from "../shared/clock.ts";
import type { ApiKeyScopeEntry } from "../store/api-key-record.ts";
import type { Store } from "../store/store.ts";
import type { AccessWatch } from "./access-watch.ts";
import type { Catalog } from "./catalog.ts";
import type { Credentials } from "./credentials.ts";
import type { ServingNodes } from "./serving-nodes.ts";
import type { UserDirectory } from "./user-directory.ts";

/** Everything the v1 operations need; built once per node by node.ts. */
export interface AppContext {
  config: Config;
  store: Store;
  catalog: Catalog;
  /** Ends what runs on a user's behalf once their access is gone (docs/security.md S2). */
  access: AccessWatch;
  servingNodes: ServingNodes;
  clock: Clock;
  tokens: TokenService;
  /** Seals pull receipts to their receiver (S5); derived from the token secret (src/app/receipts.ts). */
  receiptKey: Uint8Array;
  /** API keys and external issuers' tokens (docs/security.md S14). */
  credentials: Credentials;
  passwords: PasswordHasher;
  loginLimiter: LoginLimiter;
  registrationLimiter: RegistrationLimiter;
  /** Users' token versions and deletion, cached; revocations are announced through it. */
  userDirectory: UserDirectory;
  metrics: Metrics;
  log: Logger;
  /** The node serving a queue or topic now (this node when standalone). A hint: it moves on failover. */
  locate(kind: ResourceKind, name: string): ServingNode;
}

/** A node as clients reach it. */
export interface ServingNode {
  node: string;
  httpUrl: string;
}

/** Who is calling: proven by a token. */
export interface Principal {
  username: string;
  /** Epoch ms at which the token that proved it expires. */
  tokenExpiresAt: number;
  /** Named in the `operators` setting: manages users, sees operational state (docs/security.md). */
  operator: boolean;
  /** Set when an API key proved it: every access check is narrowed to the key's scope. */
  apiKey?: ApiKeyAuth;
}

/** The API key behind a principal; `scope` null means whatever its user may do (but no key or user management). */
export interface ApiKeyAuth {
  id: string;
  scope: readonly ApiKeyScopeEntry[] | null;
}
