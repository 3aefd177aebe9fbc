import type { Binding, TopicMessageData, TopicView } from "@aviso/client";
import type { Command } from "commander";
import type { Column } from "../output.ts";
import { collect, parseFrom, parseHeaders, parseInteger, parsePayload, readStdin } from "../payload.ts";
import type { CliSession } from "../session.ts";
import { type PageFlags, pageFlags, printListing } from "./list-pages.ts";
import { addResourceCommands } from "./resource-commands.ts";
import { streamUntilStopped } from "./streaming.ts";

type SessionFactory = () => CliSession;

export const topicColumns: ReadonlyArray<Column<TopicView>> = [
  { header: "name", value: (topic) => topic.name },
  { header: "creator", value: (topic) => topic.creator ?? "" },
  { header: "private", value: (topic) => (topic.private ? "yes" : "") },
  { header: "durable", value: (topic) => (topic.durable ? "yes" : "no") },
  // nextOffset is the offset the next message gets: the retained ones end one before it.
  {
    header: "offsets",
    value: (topic) =>
      topic.nextOffset > topic.firstOffset ? `${topic.firstOffset}–${topic.nextOffset - 1}` : "none",
  },
];

const bindingColumns: ReadonlyArray<Column<Binding>> = [
  { header: "queue", value: (binding) => binding.queue },
  { header: "pattern", value: (binding) => binding.pattern },
  { header: "next offset", value: (binding) => binding.nextOffset },
  { header: "created by", value: (binding) => binding.createdBy ?? "" },
];

export function topicLabel(message: TopicMessageData): string {
  return `#${message.offset}${message.key === "" ? "" : ` ${message.key}`}`;
}

function messageFields(topic: string, message: TopicMessageData): Record<string, unknown> {
  const { offset, key, payload, headers, publishedAt } = message;
  return { topic, offset, key, payload, ...(headers === undefined ? {} : { headers }), publishedAt };
}

export function addTopicCommands(program: Command, session: SessionFactory): void {
  const topic = addResourceCommands(program, session, {
    kind: "topic",
    description: "topics: every subscriber gets every message, with history",
    columns: topicColumns,
    create: (create) => addCreateOptions(create, session),
  });

  topic
    .command("publish")
    .description("publish a message (JSON if it parses, else text; - reads stdin)")
    .argument("<name>")
    .argument("<payload>")
    .option("-k, --key <routing-key>", "routing key, dot-separated words")
    .option("-H, --header <key=value>", "a header (repeatable)", collect)
    .option("--string", "send the payload as a string even if it is valid JSON")
    .action(
      async (name: string, text: string, options: { key?: string; header?: string[]; string?: boolean }) => {
        const current = session();
        const payload = parsePayload(text === "-" ? await readStdin() : text, options.string === true);
        const headers = parseHeaders(options.header);
        const { offset } = await (await current.client()).topics.publish(name, payload, {
          ...(options.key === undefined ? {} : { key: options.key }),
          ...(headers === undefined ? {} : { headers }),
        });
        current.output.result({ offset }, `Published to ${name} at offset ${offset}.`);
      },
    );

  topic
    .command("history")
    .description("retained messages")
    .argument("<name>")
    .option("--from <offset>", "first offset (default: the oldest retained)", parseInteger("--from"))
    .option("--limit <n>", "most messages (≤ 1000)", parseInteger("--limit"), 100)
    .action(async (name: string, options: { from?: number; limit: number }) => {
      const current = session();
      const page = await (await current.client()).topics.history(name, options);
      if (current.output.json) {
        current.output.line(JSON.stringify(page));
        return;
      }
      if (!page.complete) current.output.note("Retention already dropped part of this range.");
      if (page.messages.length === 0) current.output.note(`No messages in ${name} from there.`);
      for (const message of page.messages) current.output.message({}, topicLabel(message), message.payload);
    });

  topic
    .command("subscribe")
    .alias("tail")
    .description("print messages as they are published (tail -f); Ctrl-C stops")
    .argument("<name>")
    .option("-p, --pattern <pattern>", "routing-key pattern (* one word, # any)", "#")
    .option("--from <where>", "latest, earliest or an offset", parseFrom, "latest")
    .option("--count <n>", "stop after this many messages", parseInteger("--count"))
    .action(
      async (
        name: string,
        options: { pattern: string; from: "latest" | "earliest" | number; count?: number },
      ) => {
        const current = session();
        const subscription = (await current.client()).topics.subscribe(name, {
          pattern: options.pattern,
          from: options.from,
          onGap: (gap) =>
            current.output.note(`Retention dropped messages between offsets ${gap.from} and ${gap.to}.`),
        });
        await streamUntilStopped(
          subscription,
          current.output,
          `topic ${name} (${options.pattern})`,
          async (message) =>
            current.output.message(messageFields(name, message), topicLabel(message), message.payload),
          options.count,
        );
      },
    );

  topic
    .command("bind")
    .description("durable subscription: copy matching messages into a queue (created if needed)")
    .argument("<topic>")
    .argument("<queue>")
    .option("-p, --pattern <pattern>", "routing-key pattern", "#")
    .action(async (name: string, queue: string, options: { pattern: string }) => {
      const current = session();
      const binding = await (await current.client()).topics.bind(name, queue, options);
      current.output.result(
        binding,
        `Messages of ${name} matching ${binding.pattern} now go to queue ${queue}.`,
      );
    });

  pageFlags(topic.command("bindings").description("queues bound to a topic, by queue name"))
    .argument("<topic>")
    .action(async (name: string, flags: PageFlags) => {
      const current = session();
      const client = await current.client();
      await printListing(current.output, flags, {
        field: "subscriptions",
        command: `aviso topic bindings ${name}`,
        columns: bindingColumns,
        empty: `No queue is bound to ${name}.`,
        page: (page) => client.topics.bindings(name, page),
      });
    });

  topic
    .command("unbind")
    .description("stop copying into a queue (the queue stays)")
    .argument("<topic>")
    .argument("<queue>")
    .action(async (name: string, queue: string) => {
      const current = session();
      await (await current.client()).topics.unbind(name, queue);
      current.output.result(
        { unbound: { topic: name, queue } },
        `Queue ${queue} no longer receives ${name}.`,
      );
    });
}

/** `aviso topic create <name>`: durability and retention. */
function addCreateOptions(command: Command, session: SessionFactory): void {
  command
    .option("--no-durable", "keep history in memory only (faster, lost on restart)")
    .option("--max-age-ms <ms>", "retention by age", parseInteger("--max-age-ms"))
    .option("--max-messages <n>", "retention by count", parseInteger("--max-messages"))
    .action(
      async (
        name: string,
        options: { private?: boolean; durable: boolean; maxAgeMs?: number; maxMessages?: number },
      ) => {
        const current = session();
        const retention = {
          ...(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs }),
          ...(options.maxMessages === undefined ? {} : { maxMessages: options.maxMessages }),
        };
        const view = await (await current.client()).topics.create(name, {
          ...(options.private === true ? { private: true } : {}),
          durable: options.durable,
          ...(Object.keys(retention).length === 0 ? {} : { retention }),
        });
        current.output.result(view, `Created topic ${view.name}.`);
      },
    );
}
