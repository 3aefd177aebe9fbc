import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../clients/js/test/helpers/chromium.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";

/** Issue 9: the /docs page shows Markdown code spans as code, not raw backticks. */

let node: TestNode;
let browser: Awaited<ReturnType<typeof launchChromium>>;
beforeAll(async () => {
  [node, browser] = await Promise.all([startTestNode(), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await node?.close();
});

describe("/docs", () => {
  it("renders every operation, with `code` spans as <code> and no backtick left", async () => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${node.url}/docs`);
    await page.waitForSelector("#ops .op");

    const operations = (await (await fetch(`${node.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const count = Object.values(operations.paths).reduce((sum, item) => sum + Object.keys(item).length, 0);
    expect(await page.locator("#ops .op").count()).toBe(count);
    const visible = await page.locator("#intro, #ops .op > div").allTextContents();
    expect(visible.filter((text) => text.includes("`"))).toEqual([]);
    expect(await page.locator("#ops .op > div span code", { hasText: "waitMs" }).count()).toBe(1);
    expect(problems).toEqual([]);
  });
});
