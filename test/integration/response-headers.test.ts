import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, newUser, uniqueName } from "../helpers/api.ts";
import { startTestNode, type TestNode } from "../helpers/aviso-node.ts";

/** S13: standard headers on every answer, generated over the route table (/openapi.json). */
describe("response headers (S13)", () => {
  let node: TestNode;
  let user: Api;
  let routes: Array<{ method: string; path: string; authenticated: boolean }>;

  beforeAll(async () => {
    node = await startTestNode();
    ({ api: user } = await newUser(node.url, "headers"));
    const doc = (
      await new Api(node.url).get<{
        paths: Record<string, Record<string, { security?: unknown[] }>>;
      }>("/openapi.json")
    ).body;
    routes = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        method: method.toUpperCase(),
        // A name nobody holds: the answer is a 404 or a 4xx from validation, with headers all the same.
        path: path.replace(/\{\w+\}/g, () => uniqueName("none")),
        authenticated: !(Array.isArray(op.security) && op.security.length === 0),
      })),
    );
  });
  afterAll(async () => {
    await node?.close();
  });

  it("sends nosniff on every route's answer, and no-store on every authenticated one", async () => {
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      const api = route.authenticated ? user : new Api(node.url);
      const response = await api.request(route.method, route.path, route.method === "POST" ? {} : undefined);
      const label = `${route.method} ${route.path} → ${response.status}`;
      expect(response.headers.get("x-content-type-options"), label).toBe("nosniff");
      if (route.authenticated) expect(response.headers.get("cache-control"), label).toBe("no-store");
    }
  });

  it("sends nosniff on unknown routes, wrong methods and preflights; no-store when a token was sent", async () => {
    const anonymous = new Api(node.url);
    for (const response of [
      await anonymous.get("/nope"),
      await anonymous.request("PUT", "/v1/queues"),
      await anonymous.request("OPTIONS", "/v1/queues"),
      await user.get("/v1/queues"),
      await anonymous.get("/v1/queues"),
    ]) {
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect((await user.get("/metrics")).headers.get("cache-control")).toBe("no-store");
  });

  it("serves /docs with a strict Content-Security-Policy that allows exactly its own inline script and style", async () => {
    const response = await new Api(node.url).get<string>("/docs");
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy") ?? "";
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const script = /<script>([\s\S]*?)<\/script>/.exec(response.body)?.[1];
    const style = /<style>([\s\S]*?)<\/style>/.exec(response.body)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const directives = new Map(
      csp.split(";").map((part) => {
        const [name = "", ...values] = part.trim().split(/\s+/);
        return [name, values.join(" ")] as const;
      }),
    );
    expect(directives.get("default-src")).toBe("'none'");
    expect(directives.get("script-src")).toBe(hash(script as string));
    expect(directives.get("style-src")).toBe(hash(style as string));
    expect(directives.get("connect-src")).toBe("'self'");
    expect(directives.get("frame-ancestors")).toBe("'none'");
    expect(directives.get("base-uri")).toBe("'none'");
    expect(csp).not.toContain("unsafe");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
