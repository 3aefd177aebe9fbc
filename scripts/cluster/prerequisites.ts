import { existsSync } from "node:fs";
import { ensureMariadbInstalled } from "../../test/helpers/mariadb.ts";
import { ensureZooKeeperInstalled } from "../../test/helpers/zookeeper.ts";

/** Where Debian's packages put what the launcher runs. */
const debianFiles = {
  "mariadb-server": ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"],
  zookeeper: ["/usr/share/java/zookeeper.jar"],
} as const;

/**
 * Makes sure Debian's mariadb-server and zookeeper are present: the test
 * helpers install them with apt-get when running as root; otherwise this
 * throws one message naming the command to run.
 */
export async function ensurePrerequisites(say: (line: string) => void): Promise<void> {
  const root = process.getuid?.() === 0;
  const likelyMissing = Object.entries(debianFiles)
    .filter(([, files]) => files.some((file) => !existsSync(file)))
    .map(([name]) => name);
  if (root && likelyMissing.length > 0)
    say(`installing ${likelyMissing.join(" ")} with apt-get (once; takes a minute) …`);
  const missing: string[] = [];
  const problems: string[] = [];
  // mariadb's helper runs apt-get update when the package lists are missing, so it goes first.
  for (const [name, ensure] of [
    ["mariadb-server", ensureMariadbInstalled],
    ["zookeeper", ensureZooKeeperInstalled],
  ] as const) {
    try {
      await ensure();
    } catch (error) {
      missing.push(name);
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (missing.length === 0) return;
  throw new Error(
    root
      ? `could not install ${missing.join(" ")}:\n${problems.join("\n")}`
      : `npm run cluster needs Debian packages that are not installed: ${missing.join(" ")}.\n` +
          `Install them with: sudo apt-get install -y ${missing.join(" ")}\n` +
          "(or run the launcher as root and it installs them itself)",
  );
}
