import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type BrowserContext, chromium } from "playwright-core";

const run = promisify(execFile);
const CHROMIUM = "/usr/bin/chromium";
/** Screenshots land here (gitignored), kept as test artefacts. */
export const ARTIFACTS_DIR = new URL("../../../../test-artifacts/", import.meta.url).pathname;

/** Debian's chromium; installed when missing and we are root (scripts/test.sh lists it too). */
async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${CHROMIUM} is missing: apt-get install -y chromium (as root), then run the tests again.`,
    );
  }
  await run("apt-get", ["update", "-qq"], { timeout: 300_000 });
  await run("apt-get", ["install", "-y", "-qq", "chromium"], {
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/**
 * Headless Debian chromium driven by playwright-core, with a fresh profile
 * and the flags that keep it off the (closed) network.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  await ensureChromium();
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), "aviso-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
