/**
 * `npm run cluster`: a local Aviso cluster — ZooKeeper, MariaDB and three
 * nodes on 127.0.0.1 — until Ctrl-C. See `npm run cluster -- --help` and
 * docs/operations.md ("Running a cluster").
 */
import { Launcher } from "./cluster/launcher.ts";
import { type LauncherOptions, parseLauncherOptions, usage } from "./cluster/options.ts";

let options: LauncherOptions | undefined;
try {
  options = parseLauncherOptions(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
  process.exit(2);
}
if (options === undefined) {
  process.stdout.write(usage);
  process.exit(0);
}

const launcher = new Launcher(options);
process.on("SIGINT", () => launcher.onSignal("SIGINT"));
process.on("SIGTERM", () => launcher.onSignal("SIGTERM"));
process.on("SIGHUP", () => launcher.onSignal("SIGHUP"));
// A crash of the launcher itself must not leave servers behind.
process.on("uncaughtException", (error) => {
  process.stderr.write(`launcher crashed: ${error.stack ?? error.message}\n`);
  launcher.killAll();
  process.exit(1);
});
process.exit(await launcher.run());
