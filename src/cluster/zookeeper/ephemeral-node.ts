import { OneShot } from "../change-signal.ts";
import type { ZooKeeperSession } from "./zk-session.ts";
import { isZooKeeperError } from "./zookeeper-error.ts";

/** Another live session owns the node; `gone` fires when it changes or disappears. */
export interface TakenNode {
  ownerSessionId: string;
  gone: OneShot;
}

/**
 * One attempt to own the ephemeral node `path` (a member registration or a
 * lease) from `session`:
 * - "mine": created now, or it already belongs to this session (created
 *   earlier in the session, or a create whose reply a disconnect swallowed);
 * - "retry": it vanished meanwhile, its parent was missing and is now made,
 *   or it was left by one of our own expired sessions and is now deleted;
 * - TakenNode: another live session owns it, with a watch armed on it.
 */
export async function tryOwnEphemeral(
  session: ZooKeeperSession,
  path: string,
  data: string,
  parentPath: string,
  deadSessionIds: ReadonlySet<string>,
): Promise<"mine" | "retry" | TakenNode> {
  try {
    await session.create(path, data, "ephemeral");
    return "mine";
  } catch (error) {
    if (isZooKeeperError(error, "NO_NODE")) {
      await session.mkdirp(parentPath); // someone deleted the parent
      return "retry";
    }
    if (!isZooKeeperError(error, "NODE_EXISTS")) throw error;
  }
  const gone = new OneShot();
  const stat = await session.exists(path, () => gone.fire());
  if (stat === undefined) return "retry";
  if (stat.ownerSessionId === session.id) return "mine";
  if (deadSessionIds.has(stat.ownerSessionId)) {
    // The server deletes a dead session's nodes itself, but not necessarily
    // before telling us the session expired; no need to wait for it.
    await session.remove(path, stat.version).catch((error: unknown) => {
      if (!isZooKeeperError(error, "NO_NODE", "BAD_VERSION")) throw error;
    });
    return "retry";
  }
  return { ownerSessionId: stat.ownerSessionId, gone };
}
