import type { QueueMessageData, QueueSettings, QueueView } from "@aviso/client";
import { type Command, Option } from "commander";
import type { Column } from "../output.ts";
import { collect, parseHeaders, parseInteger, parsePayload, readStdin } from "../payload.ts";
import type { CliSession } from "../session.ts";
import { addResourceCommands } from "./resource-commands.ts";
import { streamUntilStopped } from "./streaming.ts";

type SessionFactory = () => CliSession;

export const queueColumns: ReadonlyArray<Column<QueueView>> = [
  { header: "name", value: (queue) => queue.name },
  { header: "creator", value: (queue) => queue.creator ?? "" },
  { header: "private", value: (queue) => (queue.private ? "yes" : "") },
  { header: "depth", value: (queue) => queue.depth },
  { header: "in flight", value: (queue) => queue.inFlight },
  { header: "consumers", value: (queue) => queue.consumers },
];

/** What a received message looks like in --json output. */
function messageFields(message: QueueMessageData & { queue: string }): Record<string, unknown> {
  const { id, payload, headers, publishedAt, deliveries, queue } = message;
  return { queue, id, payload, ...(headers === undefined ? {} : { headers }), publishedAt, deliveries };
}

function label(message: { id: string; deliveries: number }): string {
  return `#${message.id}${message.deliveries > 1 ? ` (delivery ${message.deliveries})` : ""}`;
}

interface SettleOptions {
  ack: boolean;
  nack?: boolean;
  delayMs?: number;
}

export function addQueueCommands(program: Command, session: SessionFactory): void {
  const queue = addResourceCommands(program, session, {
    kind: "queue",
    description: "work queues: each message goes to one consumer, until acked",
    columns: queueColumns,
    create: (create) => addCreateOptions(create, session),
  });

  queue
    .command("publish")
    .alias("send")
    .description("send a message (JSON if it parses, else text; - reads stdin)")
    .argument("<name>")
    .argument("<payload>")
    .option("-H, --header <key=value>", "a header (repeatable)", collect)
    .option("--delay-ms <ms>", "deliver after this long", parseInteger("--delay-ms"))
    .option("--idempotency-key <key>", "publishing again with this key stores nothing new")
    .option("--string", "send the payload as a string even if it is valid JSON")
    .action(
      async (
        name: string,
        text: string,
        options: { header?: string[]; delayMs?: number; idempotencyKey?: string; string?: boolean },
      ) => {
        const current = session();
        const payload = parsePayload(text === "-" ? await readStdin() : text, options.string === true);
        const headers = parseHeaders(options.header);
        const { id } = await (await current.client()).queues.publish(name, payload, {
          ...(headers === undefined ? {} : { headers }),
          ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }),
          ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
        });
        current.output.result({ id }, `Published message ${id} to ${name}.`);
      },
    );

  const settleOptions = (command: Command) =>
    command
      .option("--no-ack", "leave messages un-acked (redelivered after their ack deadline)")
      .addOption(new Option("--nack", "give messages back at once").conflicts("ack"))
      .option("--delay-ms <ms>", "with --nack: redeliver after this long", parseInteger("--delay-ms"));

  settleOptions(
    queue
      .command("receive")
      .description("pull messages (acked unless --no-ack or --nack)")
      .argument("<name>")
      .option("--max <n>", "most messages", parseInteger("--max"), 1)
      .option("--wait-ms <ms>", "wait up to this long for a first message", parseInteger("--wait-ms"), 0),
  ).action(async (name: string, options: SettleOptions & { max: number; waitMs: number }) => {
    const current = session();
    const client = await current.client();
    const messages = await client.queues.receive(name, { max: options.max, waitMs: options.waitMs });
    const receipts = messages.map((message) => message.receipt);
    if (receipts.length > 0 && options.nack === true)
      await client.queues.nack(name, receipts, delayOf(options));
    else if (receipts.length > 0 && options.ack) await client.queues.ack(name, receipts);
    if (current.output.json) {
      current.output.line(
        JSON.stringify(messages.map((message) => ({ ...messageFields(message), receipt: message.receipt }))),
      );
    } else if (messages.length === 0) current.output.note(`No message in ${name}.`);
    for (const message of current.output.json ? [] : messages)
      current.output.message({}, label(message), message.payload);
  });

  settleOptions(
    queue
      .command("subscribe")
      .description("print messages as they are pushed (acked unless --no-ack or --nack); Ctrl-C stops")
      .argument("<name>")
      .option("--prefetch <n>", "most un-acked messages at a time", parseInteger("--prefetch"), 10)
      .option("--count <n>", "stop after this many messages", parseInteger("--count")),
  ).action(async (name: string, options: SettleOptions & { prefetch: number; count?: number }) => {
    const current = session();
    const subscription = (await current.client()).queues.subscribe(name, { prefetch: options.prefetch });
    await streamUntilStopped(
      subscription,
      current.output,
      `queue ${name}`,
      async (message) => {
        current.output.message(messageFields(message), label(message), message.payload);
        if (options.nack === true) await message.nack(delayOf(options));
        else if (options.ack) await message.ack();
      },
      options.count,
    );
  });

  queue
    .command("grant")
    .description("let a user publish to and/or consume from your private queue")
    .argument("<name>")
    .argument("<username>")
    .argument("<permissions...>", "publish and/or consume (none: remove the grant)")
    .action(async (name: string, username: string, permissions: string[]) => {
      const current = session();
      const grant = await (await current.client()).queues.grant(
        name,
        username,
        permissions.filter((permission) => permission !== "none") as Array<"publish" | "consume">,
      );
      current.output.result(
        grant,
        `${username} may now ${grant.permissions.join(" and ") || "not use"} ${name}.`,
      );
    });
}

function delayOf(options: { delayMs?: number }): { delayMs?: number } {
  return options.delayMs === undefined ? {} : { delayMs: options.delayMs };
}

/** `aviso queue create <name>`: the queue's settings. */
function addCreateOptions(command: Command, session: SessionFactory): void {
  command
    .option("--ack-timeout-ms <ms>", "ack deadline", parseInteger("--ack-timeout-ms"))
    .option("--max-deliveries <n>", "deliveries before dead-lettering", parseInteger("--max-deliveries"))
    .option("--dead-letter-queue <queue>", "where messages go after --max-deliveries")
    .option(
      "--message-ttl-ms <ms>",
      "undelivered messages expire after this",
      parseInteger("--message-ttl-ms"),
    )
    .option("--max-length <n>", "most messages held", parseInteger("--max-length"))
    .action(async (name: string, options: Record<string, unknown>) => {
      const current = session();
      const view = await (await current.client()).queues.create(name, options as QueueSettings);
      current.output.result(view, `Created queue ${view.name}.`);
    });
}
