import { createHash, timingSafeEqual } from "node:crypto";
import type { UserService } from "../../app/users.ts";
import type { Config } from "../../config/schema.ts";
import { bearerToken } from "./mount-routes.ts";

/**
 * Whether a /metrics scrape may see per-resource labels (S7): with
 * `metricsResourceLabels` set, always; otherwise only with `metricsToken` or
 * an operator's token as Bearer. Anything else, a token that does not
 * verify included, gets no labels: /metrics stays open to anyone (S1).
 */
export function metricsAccess(
  config: Pick<Config, "metricsToken" | "metricsResourceLabels">,
  users: Pick<UserService, "authenticate">,
): (authorization: string) => Promise<boolean> {
  const sha256 = (text: string) => createHash("sha256").update(text).digest();
  const expected = config.metricsToken === undefined ? undefined : sha256(config.metricsToken);
  return async (authorization) => {
    if (config.metricsResourceLabels) return true;
    if (authorization === "") return false;
    const token = bearerToken(authorization);
    // Equal-length digests: the comparison time says nothing about the token.
    if (expected !== undefined && timingSafeEqual(sha256(token), expected)) return true;
    return users.authenticate(token).then(
      (principal) => principal.operator,
      () => false,
    );
  };
}
