/**
 * Errors from the ZooKeeper layer. They stay plain Errors (not AvisoError):
 * callers inside the cluster layer decide what a failure means for users.
 * `code` is ZooKeeper's own name for the failure ("NODE_EXISTS",
 * "CONNECTION_LOSS", "SESSION_EXPIRED", …), so code can branch on it instead
 * of parsing messages.
 */
export class ZooKeeperError extends Error {
  constructor(
    readonly code: string,
    readonly operation: string,
    readonly path: string | undefined,
    options?: { cause?: unknown; detail?: string },
  ) {
    const where = path === undefined ? "" : ` ${path}`;
    const detail = options?.detail === undefined ? "" : `: ${options.detail}`;
    super(`ZooKeeper ${operation}${where} failed with ${code}${detail}`, { cause: options?.cause });
    this.name = "ZooKeeperError";
  }
}

/** True when `error` is a ZooKeeperError with one of `codes`. */
export function isZooKeeperError(error: unknown, ...codes: string[]): error is ZooKeeperError {
  return error instanceof ZooKeeperError && (codes.length === 0 || codes.includes(error.code));
}

/** Failures after which the same request may simply be tried again once the link is back. */
export function isTransient(error: unknown): boolean {
  return isZooKeeperError(error, "CONNECTION_LOSS", "SESSION_EXPIRED", "OPERATION_TIMEOUT");
}

/**
 * Turns what node-zookeeper-client hands a callback (its Exception with
 * getName(), or an AssertionError thrown for a malformed path) into a
 * ZooKeeperError.
 */
export function toZooKeeperError(
  error: unknown,
  operation: string,
  path: string | undefined,
): ZooKeeperError {
  if (error instanceof ZooKeeperError) return error;
  if (error instanceof Error && "getName" in error && typeof error.getName === "function") {
    const name: unknown = error.getName();
    if (typeof name === "string") {
      const detail =
        name === "NO_AUTH"
          ? "the znode's ACL does not grant this session's credentials (is zkAuth the same on every node?)"
          : undefined;
      return new ZooKeeperError(name, operation, path, { cause: error, detail });
    }
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new ZooKeeperError("BAD_ARGUMENTS", operation, path, { cause: error, detail });
}
