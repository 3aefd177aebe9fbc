import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api, uniqueName } from "../../../test/helpers/api.ts";
import { startTestNode, type TestNode } from "../../../test/helpers/aviso-node.ts";
import { type CliProcess, cliHome, ensureCliBuilt, startCli } from "./helpers/cli.ts";

let node: TestNode;
beforeAll(async () => {
  [node] = await Promise.all([startTestNode(), ensureCliBuilt()]);
});
afterAll(async () => {
  await node.close();
});

/** Drives the menu like a person: wait for the prompt, answer, wait for the outcome. */
class MenuDriver {
  private mark = 0;

  constructor(private readonly cli: CliProcess) {}

  /** Chooses a menu entry (by its label, to keep the test readable) and answers its questions. */
  async choose(label: string, ...answers: string[]): Promise<void> {
    await this.cli.waitFor(/Choose: $/, { since: this.mark });
    const entry = new RegExp(`^\\s*(\\d+)\\) ${label}$`, "m").exec(this.cli.stdout.slice(this.mark));
    if (entry === null) throw new Error(`no menu entry "${label}"`);
    this.mark = this.cli.stdout.length;
    this.cli.write(entry[1] as string);
    for (const answer of answers) {
      await this.cli.waitFor(/: $/, { since: this.mark });
      this.mark = this.cli.stdout.length;
      this.cli.write(answer);
    }
  }

  /** Waits for `pattern` in what was printed since the last choice. */
  async expect(pattern: RegExp): Promise<void> {
    await this.cli.waitFor(pattern, { since: this.mark });
  }
}

describe("aviso (interactive menu)", () => {
  it("opens on the server given with -s and no command, over the saved one", async () => {
    const home = await cliHome(["http://127.0.0.1:9"]);
    try {
      const cli = startCli(["-s", node.url], home.configPath);
      const menu = new MenuDriver(cli);
      await cli.waitFor(new RegExp(`Aviso — ${node.url} \\(not logged in\\)`));
      // Registering reaches the node: the menu talks to it, not to the saved port 9.
      const username = uniqueName("menu-s");
      await menu.choose("Register", username, "correct horse battery");
      await menu.expect(new RegExp(`Registered ${username}\\.`));
      cli.child.stdin?.end();
      expect((await cli.exited).code).toBe(0);
    } finally {
      await home.cleanUp();
    }
  });

  it("offers the original console client's operations, driven through stdin", async () => {
    const home = await cliHome([node.url]);
    try {
      const cli = startCli([], home.configPath);
      const menu = new MenuDriver(cli);
      const username = uniqueName("menu");
      const queue = uniqueName("q");
      const topic = uniqueName("t");
      await cli.waitFor(new RegExp(`Aviso — ${node.url} \\(not logged in\\)`));

      await menu.choose("List queues");
      await menu.expect(/NOT_LOGGED_IN/);
      await menu.choose("Register", username, "correct horse battery");
      await menu.expect(new RegExp(`Registered ${username}\\.`));
      await menu.choose("Log in", username, "wrong password");
      await menu.expect(/BAD_CREDENTIALS/);
      await menu.choose("Log in", username, "correct horse battery");
      await menu.expect(new RegExp(`Logged in as ${username}\\.`));

      await menu.choose("Create a queue", queue);
      await menu.expect(new RegExp(`Created queue ${queue}\\.`));
      await menu.choose("List queues");
      await menu.expect(new RegExp(`│ ${queue}\\s+│ ${username}`));
      await menu.choose("Send a message to a queue", queue, '{"job":1}');
      await menu.expect(new RegExp(`Sent message 1 to ${queue}\\.`));
      await menu.choose("Receive a message from a queue", queue);
      await menu.expect(new RegExp(`Received from ${queue}: #1 \\{"job":1\\}`));
      await menu.choose("Receive a message from a queue", queue);
      await menu.expect(new RegExp(`No message in ${queue}\\.`));

      await menu.choose("Subscribe to a queue", queue);
      await menu.expect(new RegExp(`Subscribed to queue ${queue}`));
      // A message pushed while the menu waits at its prompt is printed above it, and the prompt shown again.
      await menu.expect(/Choose: $/);
      const login = await new Api(node.url).post<{ token: string }>("/v1/auth/login", {
        username,
        password: "correct horse battery",
      });
      await new Api(node.url, login.body.token).post(`/v1/queues/${queue}/messages`, {
        payload: "while waiting",
      });
      await menu.expect(new RegExp(`\\n\\[queue ${queue}\\] #2 while waiting\\nChoose: $`));
      await menu.choose("Send a message to a queue", queue, "pushed");
      await menu.expect(new RegExp(`\\[queue ${queue}\\] #3 pushed`));
      await menu.choose("Unsubscribe from a queue", queue);
      await menu.expect(new RegExp(`Unsubscribed from queue ${queue}\\.`));

      await menu.choose("Create a topic", topic);
      await menu.expect(new RegExp(`Created topic ${topic}\\.`));
      await menu.choose("List topics");
      await menu.expect(new RegExp(`│ ${topic}\\s+│ ${username}`));
      await menu.choose("Subscribe to a topic", topic, "orders.#");
      await menu.expect(new RegExp(`Subscribed to topic ${topic}`));
      await menu.choose("Publish to a topic", topic, "orders.eu", '{"order":7}');
      await menu.expect(/at offset 0\./);
      await menu.choose("Publish to a topic", topic, "", "not matching");
      await menu.expect(/at offset 1\./);
      // The node pushes the message right after answering the publish: view until it was collected.
      let viewed = "";
      for (const deadline = Date.now() + 5000; !viewed.includes("[topic") && Date.now() < deadline; ) {
        await menu.choose("View messages from subscribed topics");
        await menu.expect(/(No new messages\.|\[topic .*\n)\n/);
        viewed = cli.stdout.slice(cli.stdout.lastIndexOf("Choose: "));
      }
      expect(cli.stdout).toContain(`[topic ${topic}] #0 orders.eu {"order":7}`);
      expect(cli.stdout).not.toContain("not matching");
      await menu.choose("Unsubscribe from a topic", topic);
      await menu.expect(new RegExp(`Unsubscribed from topic ${topic}\\.`));

      // A delete asks first: anything but "y" keeps the resource.
      await menu.choose("Delete a topic", topic, "");
      await menu.expect(new RegExp(`Kept topic ${topic}\\.`));
      await menu.choose("Delete a topic", topic, "y");
      await menu.expect(new RegExp(`Deleted topic ${topic}\\.`));
      await menu.choose("Delete a queue", queue, "n");
      await menu.expect(new RegExp(`Kept queue ${queue}\\.`));
      await menu.choose("List queues");
      await menu.expect(new RegExp(queue));
      await menu.choose("Delete a queue", queue, "yes");
      await menu.expect(new RegExp(`Deleted queue ${queue}\\.`));
      await menu.choose("Exit");
      const result = await cli.exited;
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Bye\.\n$/);
    } finally {
      await home.cleanUp();
    }
  });
});
