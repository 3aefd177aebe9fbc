import { readFile, stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, newUser, uniqueName } from "../../../test/helpers/api.ts";
import { startTestNode, type TestNode } from "../../../test/helpers/aviso-node.ts";
import { eventually } from "../../../test/helpers/eventually.ts";
import { cliHome, ensureCliBuilt, runCli, runJson, startCli } from "./helpers/cli.ts";

let node: TestNode;
const homes: Array<{ cleanUp(): Promise<void> }> = [];
beforeAll(async () => {
  [node] = await Promise.all([startTestNode(), ensureCliBuilt()]);
});
afterAll(async () => {
  await Promise.all(homes.map((home) => home.cleanUp()));
  await node.close();
});

const password = "correct horse battery";

/**
 * A fresh user with a config file as `aviso login` leaves it (the login
 * command itself is tested below; here REST is quicker than two processes).
 */
async function loggedInUser(): Promise<{ username: string; config: string; api: Api }> {
  const { username, api } = await newUser(node.url, "cli");
  const home = await cliHome([node.url], { username, token: api.token as string });
  homes.push(home);
  return { username, config: home.configPath, api };
}

async function queueView(api: Api, queue: string): Promise<Record<string, unknown>> {
  return (await api.get(`/v1/queues/${queue}`)).body;
}

describe("aviso login / logout", () => {
  it("saves the token and servers in a 0600 config file and forgets them on logout", async () => {
    const home = await cliHome([node.url]);
    homes.push(home);
    const username = uniqueName("cli");
    const registered = await runCli(["register", username], home.configPath, { input: `${password}\n` });
    expect(registered).toMatchObject({
      code: 0,
      stdout: `Registered ${username}. Log in with: aviso login ${username}\n`,
    });
    const login = await runJson<{ username: string; servers: string[] }>(
      ["login", username, "-p", password, "--server", node.url],
      home.configPath,
    );
    expect(login).toMatchObject({ username, servers: [node.url] });
    expect((await stat(home.configPath)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(home.configPath, "utf8"));
    expect(saved).toMatchObject({ servers: [node.url], username, token: expect.any(String) });
    expect(await runJson(["whoami"], home.configPath)).toMatchObject({ username });
    expect((await runCli(["logout"], home.configPath)).stdout).toBe("Logged out.\n");
    const after = await runCli(["queue", "list"], home.configPath);
    expect(after.code).toBe(3);
    expect(after.stderr).toContain("NOT_LOGGED_IN");
    expect(after.stderr).toContain("aviso login");
  });

  it("explains a wrong password and exits 3", async () => {
    const { username, config } = await loggedInUser();
    const result = await runCli(["login", username, "-p", "wrong password"], config);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("Unknown user or wrong password. (401 BAD_CREDENTIALS)");
    const json = await runCli(["--json", "login", username, "-p", "wrong password"], config);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: "unauthenticated", reason: "BAD_CREDENTIALS", message: expect.any(String), status: 401 },
    });
  });
});

describe("aviso queue", () => {
  it("creates, lists, publishes, receives with ack, nack and no-ack, and deletes", async () => {
    const { username, config, api } = await loggedInUser();
    const queue = uniqueName("jobs");
    expect(await runJson(["queue", "create", queue, "--max-deliveries", "5"], config)).toMatchObject({
      name: queue,
      creator: username,
      owner: username,
      maxDeliveries: 5,
    });
    expect(
      await runJson(["queue", "publish", queue, '{"task":"resize"}', "-H", "trace=abc"], config),
    ).toEqual({ id: "1" });
    expect(await runJson(["queue", "send", queue, "plain text"], config)).toEqual({ id: "2" });
    const table = await runCli(["queue", "list"], config);
    expect(table.stdout).toMatch(new RegExp(`│ ${queue}\\s+│ ${username}`));

    const noAck = await runJson<Array<{ id: string }>>(["queue", "receive", queue, "--no-ack"], config);
    expect(noAck).toEqual([
      expect.objectContaining({ id: "1", payload: { task: "resize" }, headers: { trace: "abc" } }),
    ]);
    const nacked = await runJson<Array<{ id: string }>>(["queue", "receive", queue, "--nack"], config);
    expect(nacked.map((message) => message.id)).toEqual(["2"]);
    const acked = await runCli(["queue", "receive", queue, "--max", "5", "--wait-ms", "1000"], config);
    expect(acked.stdout).toBe("#2 (delivery 2) plain text\n");
    // The --no-ack message is still leased; the others are gone.
    expect(await queueView(api, queue)).toMatchObject({ depth: 0, inFlight: 1 });
    expect(await runJson(["queue", "delete", queue], config)).toEqual({ deleted: queue });
    const gone = await runCli(["queue", "delete", queue], config);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain("QUEUE_NOT_FOUND");
  });

  it("subscribes and prints pushed messages as JSON lines, acking them, until --count", async () => {
    const { config, api } = await loggedInUser();
    const queue = uniqueName("push");
    await api.post("/v1/queues", { name: queue });
    const subscriber = startCli(["--json", "queue", "subscribe", queue, "--count", "2"], config);
    await eventually(async () => expect(await queueView(api, queue)).toMatchObject({ consumers: 1 }), {
      timeoutMs: 10_000,
    });
    await runJson(["queue", "publish", queue, "1"], config);
    await api.post(`/v1/queues/${queue}/messages`, { payload: "two" });
    const result = await subscriber.exited;
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.payload)).toEqual([1, "two"]);
    expect(lines[0]).toMatchObject({ queue, id: "1", deliveries: 1 });
    expect(await queueView(api, queue)).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it("says 'for 1 message' and 'for 2 messages' when it subscribes with --count", async () => {
    const { config, api } = await loggedInUser();
    const queue = uniqueName("count");
    await api.post("/v1/queues", { name: queue });
    await api.post(`/v1/queues/${queue}/messages`, {
      messages: [{ payload: 1 }, { payload: 2 }, { payload: 3 }],
    });
    const one = await runCli(["queue", "subscribe", queue, "--count", "1"], config);
    expect(one.stderr).toContain(`Subscribed to queue ${queue} for 1 message. Ctrl-C to stop.`);
    const two = await runCli(["queue", "subscribe", queue, "--count", "2"], config);
    expect(two.stderr).toContain(`Subscribed to queue ${queue} for 2 messages. Ctrl-C to stop.`);
  });

  it("refuses another user's delete with 403 NOT_RESOURCE_OWNER and exit code 5", async () => {
    const owner = await loggedInUser();
    const other = await loggedInUser();
    const queue = uniqueName("mine");
    await owner.api.post("/v1/queues", { name: queue });
    const result = await runCli(["queue", "delete", queue], other.config);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(`Only the creator of queue "${queue}" may delete it.`);
    expect(result.stderr).not.toContain(owner.username);
    expect(result.stderr).toContain("403 NOT_RESOURCE_OWNER");
  });
});

describe("aviso topic", () => {
  it("creates, publishes with keys, reads history, binds queues, tails and deletes", async () => {
    const { config, api } = await loggedInUser();
    const topic = uniqueName("orders");
    expect(await runJson(["topic", "create", topic, "--max-messages", "100"], config)).toMatchObject({
      name: topic,
      retention: { maxMessages: 100 },
    });
    expect(await runJson(["topic", "publish", topic, '{"n":0}', "-k", "orders.eu.created"], config)).toEqual({
      offset: 0,
    });
    expect(await runJson(["topic", "publish", topic, "hello", "--key", "orders.us.created"], config)).toEqual(
      { offset: 1 },
    );
    const history = await runJson<{ messages: Array<{ offset: number; key: string }> }>(
      ["topic", "history", topic],
      config,
    );
    expect(history.messages.map((message) => [message.offset, message.key])).toEqual([
      [0, "orders.eu.created"],
      [1, "orders.us.created"],
    ]);
    expect((await runCli(["topic", "history", topic, "--from", "1"], config)).stdout).toBe(
      "#1 orders.us.created hello\n",
    );
    const listed = await runJson<Array<{ name: string; nextOffset: number }>>(["topic", "list"], config);
    expect(listed.find((entry) => entry.name === topic)).toMatchObject({ nextOffset: 2 });
    expect((await runCli(["topic", "list"], config)).stdout).toContain(`│ ${topic}`);

    const queue = uniqueName("copies");
    expect(await runJson(["topic", "bind", topic, queue, "-p", "orders.eu.*"], config)).toMatchObject({
      queueCreated: true,
    });
    expect(await runJson(["topic", "bindings", topic], config)).toEqual([expect.objectContaining({ queue })]);

    const tail = startCli(
      ["topic", "subscribe", topic, "--pattern", "orders.eu.*", "--from", "earliest"],
      config,
    );
    await tail.waitFor(/#0 orders\.eu\.created \{"n":0\}\n/);
    await api.post(`/v1/topics/${topic}/messages`, { payload: "skipped", key: "orders.us.created" });
    await runJson(["topic", "publish", topic, "[1,2]", "-k", "orders.eu.shipped"], config);
    await tail.waitFor(/#3 orders\.eu\.shipped \[1,2\]\n/);
    tail.child.kill("SIGINT");
    const stopped = await tail.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toBe('#0 orders.eu.created {"n":0}\n#3 orders.eu.shipped [1,2]\n');
    expect(stopped.stderr).toContain("Ctrl-C to stop");

    expect(
      await runJson<Array<{ payload: unknown }>>(["queue", "receive", queue, "--max", "5"], config),
    ).toEqual([expect.objectContaining({ payload: [1, 2] })]);
    expect(await runJson(["topic", "unbind", topic, queue], config)).toEqual({ unbound: { topic, queue } });
    expect(await runJson(["topic", "delete", topic], config)).toEqual({ deleted: topic });
    expect((await runCli(["topic", "history", topic], config)).code).toBe(4);
  });
});

describe("aviso list commands", () => {
  it("print every page by default, one page with --limit and a hint that continues it", async () => {
    const { config, api } = await loggedInUser();
    const prefix = uniqueName("pages");
    for (const suffix of ["b", "a", "c"]) {
      expect((await api.post("/v1/queues", { name: `${prefix}-${suffix}`, private: true })).status).toBe(201);
    }
    const all = await runJson<Array<{ name: string }>>(["queue", "list"], config);
    expect(all.map((queue) => queue.name).filter((name) => name.startsWith(prefix))).toEqual(
      ["a", "b", "c"].map((suffix) => `${prefix}-${suffix}`),
    );
    const page = await runJson<{ queues: Array<{ name: string }>; next: string | null }>(
      ["queue", "list", "--limit", "1"],
      config,
    );
    expect(page.queues).toHaveLength(1);
    expect(page.next).toEqual(expect.any(String));
    const human = await runCli(["queue", "list", "--limit", "1"], config);
    expect(human.stderr).toContain("More: aviso queue list --limit 1 --after ");
    const cursor = /--after (\S+)/.exec(human.stderr)?.[1] ?? "";
    const next = await runJson<{ queues: Array<{ name: string }> }>(
      ["queue", "list", "--limit", "1", "--after", cursor],
      config,
    );
    expect(next.queues[0]?.name).not.toBe(page.queues[0]?.name);
  });

  it("shows a topic's retained offsets as an inclusive range", async () => {
    const { config, api } = await loggedInUser();
    const empty = uniqueName("empty");
    const full = uniqueName("full");
    expect((await api.post("/v1/topics", { name: empty, private: true })).status).toBe(201);
    expect((await api.post("/v1/topics", { name: full, private: true })).status).toBe(201);
    for (const payload of [1, 2, 3]) {
      expect((await api.post(`/v1/topics/${full}/messages`, { payload })).status).toBe(201);
    }
    const table = (await runCli(["topic", "list"], config)).stdout;
    const row = (name: string) => table.split("\n").find((line) => line.includes(` ${name} `)) ?? "";
    expect(row(full)).toContain("0–2");
    expect(row(empty)).toContain("none");
  });
});

describe("aviso cluster, usage and exit codes", () => {
  it("shows the cluster as a table or JSON", async () => {
    const { config } = await loggedInUser();
    expect(await runJson(["cluster"], config)).toMatchObject({
      mode: "standalone",
      members: [expect.any(Object)],
    });
    const table = await runCli(["cluster"], config);
    expect(table.stdout).toContain("Mode: standalone");
    expect(table.stdout).toContain(node.url);
  });

  it("exits 2 for bad usage, 7 for an unreachable node, and colours only when asked", async () => {
    const { config } = await loggedInUser();
    const [unknown, badNumber, invalid, unreachable, plain, coloured] = await Promise.all([
      runCli(["queue", "bogus"], config),
      runCli(["queue", "receive", "x", "--max", "many"], config),
      runCli(["--json", "queue", "create", "no spaces allowed"], config),
      runCli(["--server", "http://127.0.0.1:1", "queue", "list"], config),
      runCli(["queue", "list"], config),
      runCli(["queue", "list"], config, { env: { NO_COLOR: "", FORCE_COLOR: "1" } }),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'bogus'");
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain("--max must be a whole number");
    expect(invalid.code).toBe(2);
    expect(JSON.parse(invalid.stderr).error).toMatchObject({ reason: "INVALID_NAME", status: 400 });
    expect(unreachable.code).toBe(7);
    expect(unreachable.stderr).toContain("NETWORK_ERROR");
    expect(plain.stdout).not.toContain("\u001b[");
    expect(coloured.stdout).toContain("\u001b[1m");
  });
});
