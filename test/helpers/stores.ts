import { startTestNode, type TestNode } from "./aviso-node.ts";
import { createTestDatabase, dropTestDatabase } from "./mariadb.ts";

/** The two stores every REST integration file runs against. */
export type StoreKind = "sqlite" | "mysql";
export const storeKinds: readonly StoreKind[] = ["sqlite", "mysql"];

/**
 * Starts an in-process node on `kind`: SQLite in the node's temp dir, or a
 * fresh database on the MariaDB that globalSetup started (dropped on close).
 */
export async function startNodeOn(
  kind: StoreKind,
  options: { prefix?: string; env?: Record<string, string> } = {},
): Promise<TestNode> {
  const env = options.env ?? {};
  if (kind === "sqlite") return startTestNode({ env });
  const store = await createTestDatabase(options.prefix ?? "rest");
  const node = await startTestNode({ store, env });
  return {
    url: node.url,
    wsUrl: node.wsUrl,
    dataDir: node.dataDir,
    async close() {
      await node.close();
      await dropTestDatabase(store);
    },
  };
}
