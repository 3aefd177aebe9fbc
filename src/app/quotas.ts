import type { Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { AppContext } from "./context.ts";

/** Buckets kept before full ones (users idle for a while) are forgotten. */
const MAX_IDLE_BUCKETS = 10_000;

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * Per-user quotas checked by the v1 operations (docs/operations.md "Quotas",
 * S10): counts of created queues and topics and of grants per resource (403
 * QUOTA_EXCEEDED), and the publish rate (a token bucket per user on this
 * node, 429 PUBLISH_RATE_LIMITED). Creates by one user, and grants on one
 * resource, are serialised on this node so parallel requests cannot overshoot
 * a count; nodes of a cluster do not coordinate, so simultaneous creates on
 * several nodes may each take the last slot.
 */
export class Quotas {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly ctx: AppContext) {}

  /** Creates a queue or topic for `creator` unless it already holds its quota of them. */
  createWithinQuota<T>(kind: ResourceKind, creator: string, create: () => Promise<T>): Promise<T> {
    const quota = kind === "queue" ? "maxQueuesPerUser" : "maxTopicsPerUser";
    const limit = this.ctx.config[quota];
    return this.serialised(`${kind}s of ${creator}`, async () => {
      const held = await this.ctx.store.countCreated(kind, creator);
      if (held >= limit) throw quotaExceeded(quota, limit, `A user creates at most ${limit} ${kind}s.`);
      return create();
    });
  }

  /** Puts a grant unless it names one user more than the resource's quota of grants. */
  putGrant<T>(
    kind: ResourceKind,
    resource: string,
    username: string,
    permissions: readonly Permission[],
    put: () => Promise<T>,
  ): Promise<T> {
    const limit = this.ctx.config.maxGrantsPerResource;
    return this.serialised(`grants of ${kind} ${resource}`, async () => {
      if (permissions.length > 0) {
        const grants = await this.ctx.store.listGrants(kind, resource);
        const isNew = !grants.some((grant) => grant.username === username);
        if (isNew && grants.length >= limit) {
          throw quotaExceeded(
            "maxGrantsPerResource",
            limit,
            `A queue or topic grants access to at most ${limit} users.`,
          );
        }
      }
      return put();
    });
  }

  /** Takes `count` publish tokens from the user's bucket, or throws PUBLISH_RATE_LIMITED. */
  takePublishTokens(username: string, count: number): void {
    const { publishRatePerUser: rate, publishBurstPerUser: burst } = this.ctx.config;
    const now = this.ctx.clock.now();
    const bucket = this.buckets.get(username) ?? { tokens: burst, refilledAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) * rate) / 1000);
    bucket.refilledAt = now;
    if (bucket.tokens < count) {
      this.buckets.set(username, bucket);
      // A batch larger than the bucket never fits: it is told to wait for a full bucket.
      const missing = Math.min(count, burst) - bucket.tokens;
      throw new AvisoError(
        "PUBLISH_RATE_LIMITED",
        `A user publishes at most ${rate} messages per second (bursts of ${burst}).`,
        {
          details: {
            quota: "publishRatePerUser",
            limit: rate,
            burst,
            retryAfterMs: Math.max(1, Math.ceil((missing * 1000) / rate)),
          },
        },
      );
    }
    bucket.tokens -= count;
    this.buckets.set(username, bucket);
    if (this.buckets.size > MAX_IDLE_BUCKETS) this.forgetFullBuckets(now);
  }

  private forgetFullBuckets(now: number): void {
    const { publishRatePerUser: rate, publishBurstPerUser: burst } = this.ctx.config;
    for (const [username, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.refilledAt) * rate) / 1000 >= burst) this.buckets.delete(username);
    }
  }

  /** Runs `task` after every earlier task of the same key settled. */
  private serialised<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

function quotaExceeded(quota: string, limit: number, message: string): AvisoError {
  return new AvisoError("QUOTA_EXCEEDED", message, { details: { quota, limit } });
}
