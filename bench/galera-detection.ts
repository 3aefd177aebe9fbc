/**
 * Galera's failure detection as the test harness tunes it: starts the
 * 3-node cluster of test/helpers/galera.ts, and per run kills a node with
 * kill -9 while a writer on a survivor commits every 10 ms; prints how long
 * until the survivors' cluster size is 2 (polled every 20 ms), the writer's
 * longest commit meanwhile (and any failed commit: a survivor that lost the
 * primary component), and how long the killed node took to rejoin.
 *
 *   node --import tsx bench/galera-detection.ts [runs (default 3)]
 */
import mysql, { type RowDataPacket } from "mysql2/promise";
import { startGalera } from "../test/helpers/galera.ts";

const runs = Math.min(10, Math.max(1, Number(process.argv[2] ?? 3)));
const galera = await startGalera();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
try {
  const setup = await mysql.createConnection(galera.nodeUrlBase(1));
  await setup.query("CREATE DATABASE detection");
  await setup.query("CREATE TABLE detection.t (id INT PRIMARY KEY, v INT)");
  await setup.end();
  for (let run = 0; run < runs; run++) {
    const victim = run % 2 === 0 ? 0 : 2;
    const watcher = await mysql.createConnection(galera.nodeUrlBase(1));
    const writer = await mysql.createConnection(galera.nodeUrlBase(1));
    let writing = true;
    let longestWriteMs = 0;
    let n = 0;
    let killedAt = Date.now();
    const failures: string[] = [];
    const writes = (async () => {
      while (writing) {
        const started = Date.now();
        try {
          await writer.query("INSERT INTO detection.t VALUES (?, 0) ON DUPLICATE KEY UPDATE v = v + 1", [
            n++ % 50,
          ]);
        } catch (error) {
          failures.push(`${Date.now() - killedAt} ms: ${(error as Error).message}`);
          await sleep(100);
        }
        longestWriteMs = Math.max(longestWriteMs, Date.now() - started);
        await sleep(10);
      }
    })();
    await sleep(500);
    longestWriteMs = 0;
    killedAt = Date.now();
    await galera.kill(victim);
    let evictedMs: number | null = null;
    while (evictedMs === null && Date.now() - killedAt < 30_000) {
      const [rows] = await watcher.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'");
      if (Number(rows[0]?.Value) === 2) evictedMs = Date.now() - killedAt;
      else await sleep(20);
    }
    await sleep(300);
    writing = false;
    await writes;
    const restartAt = Date.now();
    await galera.start(victim);
    const rejoinMs = Date.now() - restartAt;
    console.log(
      JSON.stringify({ run, victim, evictedMs, longestWriteMs, rejoinMs, failures: failures.slice(0, 3) }),
    );
    await Promise.all([watcher.end(), writer.end()]);
  }
} finally {
  await galera.destroy();
}
