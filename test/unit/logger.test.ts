import { describe, expect, it } from "vitest";
import { logEventLevels, logEvents } from "../../src/log/events.ts";
import { createLogger, type Logger } from "../../src/log/logger.ts";

/** A logger writing JSON lines into memory. */
function memoryLogger(logLevel: "info" | "debug" = "info"): {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
} {
  const chunks: string[] = [];
  const log = createLogger({ logLevel }, { write: (chunk: string) => void chunks.push(chunk) });
  const text = () => chunks.join("");
  const lines = () =>
    text()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, text };
}

describe("createLogger", () => {
  it("names the root logger aviso and honours the level", () => {
    const { log, lines } = memoryLogger("info");
    log.debug("hidden");
    log.info("shown");
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ name: "aviso", msg: "shown", level: 30 });
  });

  it("never writes passwords, tokens, authorization headers or secrets", () => {
    const { log, text, lines } = memoryLogger();
    const secrets = {
      password: "pw-top-level-1",
      token: "tok-top-level-2",
      secret: "sec-top-level-3",
      body: { username: "alice", password: "pw-nested-4", newPassword: "pw-nested-5" },
      req: { headers: { authorization: "Bearer tok-header-6", cookie: "sid=cookie-7" } },
      session: { auth: { token: "tok-deep-8" } },
      config: {
        tokenSecret: "sec-config-9",
        clusterSecret: "sec-config-10",
        store: "mysql://aviso:pw-url-11@db/aviso",
      },
    };
    log.info(secrets, "login attempt");
    log.child({ component: "edge" }).warn({ user: { passwordHash: "$2b$10$hash-12" } }, "child");
    const output = text();
    for (const value of [
      "pw-top-level-1",
      "tok-top-level-2",
      "sec-top-level-3",
      "pw-nested-4",
      "pw-nested-5",
      "tok-header-6",
      "cookie-7",
      "tok-deep-8",
      "sec-config-9",
      "sec-config-10",
      "pw-url-11",
      "hash-12",
    ]) {
      expect(output).not.toContain(value);
    }
    // The surrounding context is still there, and the store URL keeps its useful part.
    expect(lines()[0]).toMatchObject({ body: { username: "alice", password: "[redacted]" } });
    expect(output).toContain("mysql://aviso:***@db/aviso");
  });
});

describe("logEvents", () => {
  it("logs each event at its fixed level, with its name and message", () => {
    const { log, lines } = memoryLogger();
    logEvents.nodeListening(log, { url: "http://127.0.0.1:8080" });
    logEvents.uwsFallback(log);
    logEvents.plaintextBind(log, { host: "0.0.0.0" });
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 30,
        event: "nodeListening",
        url: "http://127.0.0.1:8080",
        msg: "node listening",
      }),
      expect.objectContaining({ level: 40, event: "uwsFallback" }),
      expect.objectContaining({ level: 40, event: "plaintextBind", host: "0.0.0.0" }),
    ]);
  });

  it("logs a 5xx request failure at error and a 4xx at debug", () => {
    const info = memoryLogger("info");
    const failure = { method: "POST", route: "/v1/queues", reason: "X" };
    logEvents.requestFailed(info.log, { ...failure, status: 404 });
    logEvents.requestFailed(info.log, { ...failure, status: 503, err: new Error("db down") });
    expect(info.lines()).toHaveLength(1);
    expect(info.lines()[0]).toMatchObject({ level: 50, status: 503, err: { message: "db down" } });

    const debug = memoryLogger("debug");
    logEvents.requestFailed(debug.log, { ...failure, status: 400 });
    expect(debug.lines()[0]).toMatchObject({ level: 20, status: 400 });
  });

  it("publishes every event's level for the docs", () => {
    expect(logEventLevels.storeUnavailable).toBe("error");
    expect(logEventLevels.requestFailed).toBe("dynamic");
    expect(Object.keys(logEventLevels)).toEqual(Object.keys(logEvents));
  });
});
