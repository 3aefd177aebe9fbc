import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { WebSocket } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api } from "../../../test/helpers/api.ts";
import { startTestNode, type TestNode } from "../../../test/helpers/aviso-node.ts";
import { type StaticServer, serveExamples } from "../examples/serve.ts";
import { buildClient } from "../scripts/build.ts";
import { ARTIFACTS_DIR, launchChromium } from "./helpers/chromium.ts";

const run = promisify(execFile);
const repo = new URL("../../../", import.meta.url).pathname;

/** The code blocks of the README's "Clients" section: [browser html, node js]. */
async function clientSnippets(): Promise<{ html: string; js: string }> {
  const readme = await readFile(join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Clients"), readme.indexOf("## Configuration"));
  const blocks = [...section.matchAll(/```(html|js)\n([\s\S]*?)```/g)];
  const html = blocks.find((block) => block[1] === "html")?.[2];
  const js = blocks.find((block) => block[1] === "js")?.[2];
  if (html === undefined || js === undefined)
    throw new Error("the Clients section lost its html or js block");
  return { html, js };
}

let site: StaticServer;
let node: TestNode;
let browser: Awaited<ReturnType<typeof launchChromium>>;
beforeAll(async () => {
  site = await serveExamples();
  [node, browser] = await Promise.all([
    startTestNode({ env: { AVISO_CORS_ORIGIN: site.url } }),
    launchChromium(),
    buildClient(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await node?.close();
  await site?.close();
});

describe("README Clients section", () => {
  it("its 3-line browser subscriber shows what its 3-line Node.js publisher sends", async () => {
    const { html, js } = await clientSnippets();
    expect(
      html
        .trim()
        .split("\n")
        .filter((line) => !/^<\/?script>$/.test(line.trim())),
    ).toHaveLength(3);
    expect(js.trim().split("\n")).toHaveLength(3);
    // The snippets' world: alice with her password, and the topic "orders" (README: Try it / aviso topic create).
    const anonymous = new Api(node.url);
    await anonymous.post("/v1/auth/register", { username: "alice", password: "correct horse" });
    const login = await anonymous.post<{ token: string }>("/v1/auth/login", {
      username: "alice",
      password: "correct horse",
    });
    await anonymous.withToken(login.body.token).post("/v1/topics", { name: "orders" });
    const port = new URL(node.url).port;
    const local = (code: string) => code.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);

    const page = await browser.context.newPage();
    const subscribed = new Promise<void>((resolve) => {
      page.on("websocket", (socket: WebSocket) =>
        socket.on("framereceived", ({ payload }) => {
          if (String(payload).includes('"sub"')) resolve();
        }),
      );
    });
    const pageFile = join(repo, "clients/js/dist", `readme-feed-${process.pid}.html`);
    const script = join(ARTIFACTS_DIR, `readme-publish-${process.pid}.mjs`);
    await writeFile(pageFile, local(html));
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await writeFile(script, local(js));
    try {
      await page.goto(`${site.url}/dist/readme-feed-${process.pid}.html`);
      await subscribed;
      const published = await run(process.execPath, [script], { cwd: repo, timeout: 20_000 });
      expect(published.stdout).toBe("{ offset: 0 }\n");
      await page.waitForFunction('document.body.textContent.includes("orders.eu.created")');
      expect(await page.textContent("body")).toContain('orders.eu.created: {"item":"book"}');
    } finally {
      await rm(pageFile, { force: true });
      await rm(script, { force: true });
    }
  });
});
