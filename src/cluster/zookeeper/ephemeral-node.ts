import { OneShot } from "../change-signal.ts";
import type { ZooKeeperSession } from "./zk-session.ts";
import { isZooKeeperError } from "./zookeeper-error.ts";

/** Another live session owns the node; `gone` fires when it changes or disappears. */
export interface TakenNode {
  ownerSessionId: string;
  gone: OneShot;
}

/**
 * Whether the znode's holder (ZooKeeper's `ephemeralOwner` session) is known
 * to be gone though the server has not deleted its node yet: one of our own
 * expired sessions, or (for a lease) an evicted holder. Given the holder's
 * session and the node's data.
 */
export type OwnerGone = (ownerSessionId: string, data: string) => boolean | Promise<boolean>;

/**
 * One attempt to own the ephemeral node `path` (a member registration or a
 * lease) from `session`:
 * - "mine": created now, or it already belongs to this session (created
 *   earlier in the session, or a create whose reply a disconnect swallowed);
 * - "retry": it vanished meanwhile, its parent was missing and is now made,
 *   or its holder is gone (`ownerGone`) and it is now deleted;
 * - TakenNode: another live session owns it, with a watch armed on it.
 */
export async function tryOwnEphemeral(
  session: ZooKeeperSession,
  path: string,
  data: string,
  parentPath: string,
  ownerGone: OwnerGone,
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
  let found: { data: string; stat: { ownerSessionId: string; version: number } };
  try {
    found = await session.getData(path, () => gone.fire());
  } catch (error) {
    if (isZooKeeperError(error, "NO_NODE")) return "retry";
    throw error;
  }
  const { stat } = found;
  if (stat.ownerSessionId === session.id) return "mine";
  if (await ownerGone(stat.ownerSessionId, found.data)) {
    // The server deletes a dead session's nodes itself, but not necessarily
    // before telling us the session expired, and an evicted member's only
    // when its session expires; no need to wait for either.
    await session.remove(path, stat.version).catch((error: unknown) => {
      if (!isZooKeeperError(error, "NO_NODE", "BAD_VERSION")) throw error;
    });
    return "retry";
  }
  return { ownerSessionId: stat.ownerSessionId, gone };
}
