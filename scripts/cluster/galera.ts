import { type GaleraCluster, startGalera } from "../../test/helpers/galera.ts";
import { type MariadbState, readState } from "../../test/helpers/mariadb.ts";

/** The launcher's Galera cluster: three nodes of test/helpers/galera.ts, with Aviso's database. */
export interface LauncherGalera {
  readonly cluster: GaleraCluster;
  /** Each node's state (pid, port, log file), in list order. */
  readonly nodes: readonly MariadbState[];
  /** mysql://aviso:<password>@127.0.0.1:<p0>,127.0.0.1:<p1>,127.0.0.1:<p2>/aviso */
  readonly url: string;
}

const database = "aviso";

/**
 * Starts three Galera nodes on free ports (the first bootstraps, the others
 * join by SST: about a minute) with the app account `aviso` on the
 * launcher's password, then creates the `aviso` database through node 0
 * (DDL replicates). The account is the test harness's (all privileges, as
 * for a throwaway cluster). The nodes' data lives in temporary directories
 * that destroy() deletes.
 */
export async function startLauncherGalera(password: string): Promise<LauncherGalera> {
  const cluster = await startGalera({ password });
  try {
    const admin = await cluster.admin(0);
    try {
      await admin.query(
        `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      );
    } finally {
      await admin.end();
    }
    const nodes = await Promise.all(cluster.nodes.map((node) => readState(node.stateFile)));
    return { cluster, nodes, url: `${cluster.urlBase}/${database}` };
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}
