import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../clients/js/test/helpers/chromium.ts";
import { type ChildNode, spawnNode } from "../helpers/aviso-node.ts";

/**
 * Issue 9, "the first hour": a newcomer's path through the README, run
 * literally — the node through `npm start` on another port the documented
 * way (`-- --port`), with AVISO_CORS_ORIGIN as the browser section says; the
 * "Try it" session; the clients built with `npm run build:clients`; the CLI
 * through `npx aviso` with AVISO_PASSWORD; the browser page saved where the
 * README says, served by the documented example server on `PORT`, opened in
 * Chromium; the Node publisher, whose message the page must show. Only the
 * port numbers in the README's text are changed (8080 and 8081 may be taken
 * on this machine). A README whose commands drift fails here.
 */
const run = promisify(execFile);
const repo = new URL("../..", import.meta.url).pathname;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The fenced blocks of one README section, by language, in order. */
function blocks(readme: string, heading: string): Record<string, string[]> {
  const start = readme.indexOf(`## ${heading}`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const found: Record<string, string[]> = {};
  for (const match of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    const language = match[1] as string;
    found[language] = [...(found[language] ?? []), match[2] as string];
  }
  return found;
}

/** The README's inline commands (`…`) that start with `prefix`. */
function inlineCommands(readme: string, prefix: string): string[] {
  return [...readme.matchAll(/`([^`\n]+)`/g)]
    .map((match) => match[1] as string)
    .filter((command) => command.startsWith(prefix));
}

let readme: string;
let nodePort: number;
let pagePort: number;
let dataDir: string;
let cliConfigDir: string;
let node: ChildNode | undefined;
let pageServer: ChildProcess | undefined;
const artifacts: string[] = [];

beforeAll(async () => {
  readme = await readFile(join(repo, "README.md"), "utf8");
  [nodePort, pagePort] = [await freePort(), await freePort()];
  dataDir = await mkdtemp(join(tmpdir(), "aviso-first-hour-"));
  cliConfigDir = await mkdtemp(join(tmpdir(), "aviso-first-hour-cli-"));
}, 60_000);
afterAll(async () => {
  pageServer?.kill("SIGTERM");
  await node?.kill("SIGTERM");
  await Promise.all(artifacts.map((file) => rm(file, { force: true })));
  await rm(dataDir, { recursive: true, force: true });
  await rm(cliConfigDir, { recursive: true, force: true });
});

/** The README's text with its ports replaced by this run's. */
const ported = (text: string) =>
  text
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${nodePort}`)
    .replaceAll("127.0.0.1:8081", `127.0.0.1:${pagePort}`);

describe("the first hour, following only the README", () => {
  it("starts the node, runs the curl session, the CLI, the browser page and the publisher as written", async () => {
    // Quick start: "Another port: `npm start -- --port 9000`", and the browser section's AVISO_CORS_ORIGIN.
    expect(inlineCommands(readme, "npm start -- --port")).not.toEqual([]);
    expect(readme).toContain("AVISO_CORS_ORIGIN=http://127.0.0.1:8081 npm start");
    node = await spawnNode({
      dataDir,
      entry: "npm start",
      args: ["--port", String(nodePort)],
      env: { AVISO_CORS_ORIGIN: `http://127.0.0.1:${pagePort}` },
      startTimeoutMs: 120_000,
    });
    expect(node.url).toBe(`http://127.0.0.1:${nodePort}`);

    // "Try it": the curl session registers alice and round-trips a message.
    const [session] = (blocks(readme, "Try it").sh ?? []).filter((block) => block.includes("$B/"));
    const tried = await run("bash", ["-c", ported(session as string)], { cwd: repo });
    expect(tried.stdout).toContain('"name":"jobs"');
    expect(tried.stdout).toContain('"task":"resize"');

    // "Clients": build once, then the CLI creates the topic as the README says.
    const build = inlineCommands(readme, "npm run build:clients")[0];
    expect(build).toBe("npm run build:clients");
    await run("bash", ["-c", build as string], { cwd: repo, timeout: 180_000 });
    const cliEnv = {
      ...process.env,
      AVISO_CLI_CONFIG: join(cliConfigDir, "config.json"),
      AVISO_PASSWORD: "correct horse",
    };
    const login = inlineCommands(readme, "npx aviso login")[0] as string;
    const createTopic = inlineCommands(readme, "npx aviso topic create")[0] as string;
    expect([login, createTopic]).toEqual(["npx aviso login alice", "npx aviso topic create orders"]);
    // The CLI README's way to name the server: `--server`.
    await run("bash", ["-c", `${login} --server http://127.0.0.1:${nodePort}`], { cwd: repo, env: cliEnv });
    const created = await run("bash", ["-c", createTopic], { cwd: repo, env: cliEnv });
    expect(created.stdout).toContain("orders");

    // The browser page: saved as clients/js/dist/feed.html, served by the example server on PORT.
    const clients = blocks(readme, "Clients");
    const feed = join(repo, "clients/js/dist/feed.html");
    artifacts.push(feed);
    await writeFile(feed, ported((clients.html ?? [])[0] as string));
    const serveCommand = inlineCommands(
      readme,
      "node --import tsx clients/js/examples/serve.ts",
    )[0] as string;
    pageServer = spawn("bash", ["-c", serveCommand], {
      cwd: repo,
      env: { ...process.env, PORT: String(pagePort) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the example server did not start")), 30_000);
      pageServer?.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes(`127.0.0.1:${pagePort}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(error.message));
      await page.goto(`http://127.0.0.1:${pagePort}/dist/feed.html`);
      // The page's `const aviso` is a global binding, not a property of window.
      await page.waitForFunction("typeof aviso !== 'undefined'");

      // The Node publisher: saved in the repository, run with node; the page shows the message.
      // The page subscribes from "now" once it has logged in, so the publisher runs until the
      // page shows a message (at most 10 times).
      const publisher = join(repo, `test-artifacts-publish-${process.pid}.mjs`);
      artifacts.push(publisher);
      await writeFile(publisher, ported((clients.js ?? [])[0] as string));
      const shownText = `document.body.textContent.includes('orders.eu.created: {"item":"book"}')`;
      const shown = () => page.evaluate(shownText);
      for (let attempt = 0; attempt < 10 && !(await shown()); attempt++) {
        const published = await run(process.execPath, [publisher], { cwd: repo });
        expect(published.stdout.trim()).not.toBe("");
        await page.waitForFunction(shownText, undefined, { timeout: 2_000 }).catch(() => undefined);
      }
      expect(await shown()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
