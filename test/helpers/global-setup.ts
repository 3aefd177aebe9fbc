import type { TestProject } from "vitest/node";
import { destroyMariadb, launchMariadb, reapLeftoverServers } from "./mariadb.ts";

/**
 * Starts one MariaDB for the whole run (see mariadb.ts) and hands its
 * coordinates to test files through `inject("mariadb")`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await reapLeftoverServers();
  const state = await launchMariadb();
  project.provide("mariadb", {
    mysqlUrlBase: `mysql://${state.user}:${state.password}@127.0.0.1:${state.port}`,
    mysqlRootSocket: state.socket,
    port: state.port,
    pid: state.pid,
    stateFile: state.stateFile,
  });
  return async () => {
    await destroyMariadb(state.stateFile);
  };
}
