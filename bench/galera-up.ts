/**
 * Starts the test harness's 3-node Galera cluster (test/helpers/galera.ts)
 * for a bench run, writes the brokers' 3-host store URL (a fresh database) to
 * the file given as the first argument, and keeps it up until that file is
 * deleted (at most 30 minutes); then stops the nodes and deletes their data.
 *
 *   node --import tsx bench/galera-up.ts /tmp/galera-url &
 *   npm run bench:queue -- --mysql "$(cat /tmp/galera-url)"
 *   rm /tmp/galera-url
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { startGalera } from "../test/helpers/galera.ts";
import { createDatabaseOn } from "../test/helpers/mariadb.ts";

const urlFile = process.argv[2];
if (urlFile === undefined) throw new Error("usage: galera-up.ts <url-file>");
const galera = await startGalera();
try {
  const database = new URL(await createDatabaseOn(galera.nodeUrlBase(0), "bench")).pathname;
  await writeFile(urlFile, `${galera.urlBase}${database}\n`);
  const deadline = Date.now() + 30 * 60_000;
  while (existsSync(urlFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
} finally {
  await galera.destroy();
}
