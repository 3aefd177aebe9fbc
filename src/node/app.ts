import type { AppContext, ServingNode } from "../app/context.ts";
import { createCredentials } from "../app/credentials.ts";
import { deriveReceiptKey } from "../app/receipts.ts";
import { createServices, type Services } from "../app/services.ts";
import { createLoginLimiter } from "../auth/login-limiter.ts";
import { createPasswordPool, type PasswordHasher } from "../auth/password-pool.ts";
import { createRegistrationLimiter } from "../auth/registration-limiter.ts";
import { createTokenService } from "../auth/tokens.ts";
import type { ResourceKind } from "../broker/types.ts";
import type { Config } from "../config/schema.ts";
import { resolveTokenSecret } from "../config/token-secret.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Clock } from "../shared/clock.ts";
import type { Coordination } from "./coordination.ts";
import type { Engines } from "./engines.ts";
import type { Storage } from "./storage.ts";

const HOUR_MS = 3_600_000;

export interface App {
  readonly services: Services;
  /** The password workers: stopped last, once nothing can log in. */
  readonly passwords: PasswordHasher;
}

/**
 * Phase 5: the v1 operations over what the earlier phases built, with the
 * identity parts (token secret, password workers, limiters, credentials).
 * The app reads settings all over the API, so it gets the whole config.
 */
export async function buildApp(
  config: Config,
  parts: { storage: Storage; engines: Engines; coordination: Coordination },
  runtime: { clock: Clock; log: Logger; metrics: Metrics },
  locate: (kind: ResourceKind, name: string) => ServingNode,
): Promise<App> {
  const { clock, log, metrics } = runtime;
  const { store } = parts.storage;
  const { catalog, access, userDirectory } = parts.engines;
  const tokenSecret = await resolveTokenSecret(config, (path) => logEvents.tokenSecretCreated(log, { path }));
  const passwords = createPasswordPool(config.passwordThreads);
  const ctx: AppContext = {
    config,
    store,
    catalog,
    access,
    servingNodes: parts.coordination.servingNodes,
    clock,
    tokens: createTokenService({ secret: tokenSecret, ttlMs: config.tokenTtlMs, clock }),
    receiptKey: deriveReceiptKey(tokenSecret),
    credentials: createCredentials(config, store, clock),
    passwords,
    loginLimiter: createLoginLimiter({
      maxFailures: config.loginMaxFailures,
      windowMs: config.loginWindowMs,
      clock,
    }),
    registrationLimiter: createRegistrationLimiter({
      limit: config.registrationsPerAddressPerHour,
      windowMs: HOUR_MS,
      clock,
    }),
    userDirectory,
    metrics,
    log,
    locate,
  };
  return { services: createServices(ctx), passwords };
}
