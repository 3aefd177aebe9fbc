import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser, uniqueName } from "../../../test/helpers/api.ts";
import { startTestNode, type TestNode } from "../../../test/helpers/aviso-node.ts";
import { type StaticServer, serveExamples } from "../examples/serve.ts";
import { buildClient } from "../scripts/build.ts";
import { ARTIFACTS_DIR, launchChromium } from "./helpers/chromium.ts";

let site: StaticServer;
let node: TestNode;
let browser: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  site = await serveExamples();
  // The page and the node are on different origins: the node allows the page's by CORS.
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

describe("the browser example (real chromium)", () => {
  it("logs in, subscribes to a topic, shows messages published over REST and from its own form", async () => {
    const { username, password, api } = await newUser(node.url, "browser");
    const topic = uniqueName("feed");
    await api.post("/v1/topics", { name: topic });
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${site.url}/examples/browser/?server=${encodeURIComponent(node.url)}`);

    await page.fill("#username", username);
    await page.fill("#password", password);
    await page.click("#login button");
    await page.waitForSelector("#app:not([hidden])");
    await page.fill("#topic", topic);
    await page.click("#subscribe button");
    await page.waitForSelector(`body[data-subscribed="${topic}"]`);
    await page.waitForSelector('#status[data-state="connected"]');

    const published = await api.post(`/v1/topics/${topic}/messages`, {
      payload: { order: 42, item: "book" },
      key: "orders.eu.created",
    });
    expect(published.status).toBe(201);
    await page.waitForSelector('#feed li[data-offset="0"]');
    await page.fill("#key", "orders.us.created");
    await page.fill("#message", "hello from the page");
    await page.click("#publish button");
    await page.waitForSelector('#feed li[data-offset="1"]');

    const feed = await page.$$eval("#feed li", (items) =>
      items.map((item) => [...item.querySelectorAll("span")].map((span) => span.textContent)),
    );
    expect(feed).toEqual([
      ["#1", "orders.us.created", "hello from the page"],
      ["#0", "orders.eu.created", '{"order":42,"item":"book"}'],
    ]);
    expect(await page.textContent("#status")).toBe(`connected to ${node.url} as ${username}`);
    expect(await page.textContent("#error")).toBe("");
    const history = await api.get<{ messages: Array<{ payload: unknown }> }>(`/v1/topics/${topic}/messages`);
    expect(history.body.messages[1]?.payload).toBe("hello from the page");
    await page.screenshot({ path: `${ARTIFACTS_DIR}browser-example.png`, fullPage: true });
    expect(problems).toEqual([]);
  });
});
