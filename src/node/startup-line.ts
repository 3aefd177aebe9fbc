import { resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { resolveStoreUrl } from "../store/open-store.ts";

/**
 * The first line a node prints, for a person rather than a log parser: where
 * it serves, which store and data directory it uses, where the docs are. It is
 * printed before the JSON log lines; a port that turns out to be taken is then
 * reported on stderr and the node exits.
 */
export function startupLine(config: Config, version: string): string {
  const scheme = config.tlsCert === undefined ? "http" : "https";
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const base = `${scheme}://${host}:${config.port}`;
  const where =
    config.port === 0
      ? `${scheme}://${host} on a free port (0; see the "node listening" log line)`
      : `${base} (REST + WebSocket)`;
  const target = resolveStoreUrl(config.store, config.dataDir);
  const store =
    target.kind === "sqlite"
      ? `SQLite ${resolve(target.path)}`
      : `MySQL/MariaDB ${target.url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@")}`;
  const cluster = config.zk === undefined ? "" : `, cluster via ZooKeeper ${config.zk}`;
  const docsPage = config.port === 0 ? "/docs on that port" : `${base}/docs`;
  return (
    `aviso ${version}: serving ${where}, store ${store}, data dir ${resolve(config.dataDir)}${cluster}. ` +
    `Docs: ${docsPage} and docs/operations.md; settings: --help.`
  );
}
