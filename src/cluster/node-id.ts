import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/schema.ts";

/**
 * A cluster node's id: AVISO_NODE_ID, or one generated once and kept in the
 * data directory, so a restarted node comes back as the same member (and
 * waits out its previous ZooKeeper session instead of appearing twice).
 */
export async function resolveNodeId(config: Pick<Config, "nodeId" | "dataDir">): Promise<string> {
  if (config.nodeId !== undefined) return config.nodeId;
  const path = join(config.dataDir, "node-id");
  try {
    const saved = (await readFile(path, "utf8")).trim();
    if (saved !== "") return saved;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const generated = `node-${randomBytes(4).toString("hex")}`;
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(path, `${generated}\n`, { flag: "wx" }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  return (await readFile(path, "utf8")).trim();
}
