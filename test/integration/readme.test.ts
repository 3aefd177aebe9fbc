import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildNode, spawnNode } from "../helpers/aviso-node.ts";

const run = promisify(execFile);
const repo = new URL("../..", import.meta.url).pathname;

/** Code blocks of the README's "Try it" section, in order. */
async function readmeBlocks(): Promise<{ sh: string[]; js: string[] }> {
  const readme = await readFile(join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Try it"), readme.indexOf("## Documentation"));
  const blocks = [...section.matchAll(/```(sh|js)\n([\s\S]*?)```/g)];
  return {
    sh: blocks.filter((block) => block[1] === "sh").map((block) => block[2] as string),
    js: blocks.filter((block) => block[1] === "js").map((block) => block[2] as string),
  };
}

let node: ChildNode;
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "aviso-readme-"));
  node = await spawnNode({ dataDir });
});
afterAll(async () => {
  await node.kill("SIGTERM");
  await rm(dataDir, { recursive: true, force: true });
});

describe("README", () => {
  it("its curl session and Node worker work as written", async () => {
    const { sh, js } = await readmeBlocks();
    const [session, ack] = sh.filter((block) => block.includes("$B/"));
    expect(session).toBeDefined();
    const port = new URL(node.url).port;
    // curl prints no newline after a body: end each command's output with one.
    const commands = (session as string).replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`).trim().split("\n");
    const script = `${commands.map((command) => (command.startsWith("curl") ? `${command}; echo` : command)).join("\n")}\necho "TOKEN=$TOKEN"\n`;
    const { stdout } = await run("bash", ["-c", script], { cwd: repo });
    const lines = stdout.trim().split("\n");
    if (lines.length < 5) throw new Error(`README session printed:\n${stdout}`);
    expect(lines[0]).toContain('"username":"alice"');
    expect(lines[1]).toContain('"name":"jobs"');
    expect(lines[2]).toBe('{"ids":["1"]}');
    const received = JSON.parse(lines[3] as string) as {
      messages: Array<{ receipt: string; payload: unknown }>;
    };
    expect(received.messages[0]?.payload).toEqual({ task: "resize", id: 42 });
    const token = (lines.at(-1) as string).slice("TOKEN=".length);

    const ackScript = (ack as string)
      .replace("<receipt>", received.messages[0]?.receipt as string)
      .replaceAll("$B", `http://127.0.0.1:${port}`);
    const acked = await run("bash", ["-c", ackScript], { cwd: repo, env: { ...process.env, TOKEN: token } });
    expect(JSON.parse(acked.stdout)).toEqual({ acked: 1, stale: [] });

    // The worker: publish after it subscribed, see the message frame, and the ack empties the queue.
    const worker = join(repo, `test-artifacts-worker-${process.pid}.mjs`);
    await writeFile(worker, (js[0] as string).replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`));
    const child = execFile(process.execPath, [worker], {
      cwd: repo,
      env: { ...process.env, TOKEN: token },
    });
    try {
      let output = "";
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
      };
      child.stdout?.on("data", collect);
      child.stderr?.on("data", collect);
      const until = async (text: string) => {
        const deadline = Date.now() + 10_000;
        while (!output.includes(text)) {
          if (Date.now() > deadline) throw new Error(`worker never printed ${text}: ${output}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await until("sub: 'q1'");
      const publish = (session as string).split("\n").find((line) => line.includes("/messages")) as string;
      await run("bash", ["-c", `B=http://127.0.0.1:${port}\nTOKEN=${token}\n${publish}`]);
      await until("task: 'resize'");
      const depth = await fetch(`${node.url}/v1/queues/jobs`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const view = (await depth.json()) as { depth: number };
      expect(view.depth).toBe(0);

      // A wrong token: one line that says what to check, no stack trace, a failing exit code.
      const refused = await run(process.execPath, [worker], {
        cwd: repo,
        env: { ...process.env, TOKEN: "not-a-token" },
      }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split("\n")).toEqual([
        "worker: Unexpected server response: 401 (is the node running, and TOKEN a fresh login token?)",
      ]);
    } finally {
      child.kill();
      await rm(worker, { force: true });
    }
  });
});
