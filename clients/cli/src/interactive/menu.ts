import type { QueueSubscription, TopicMessage, TopicSubscription } from "@aviso/client";
import { logIn, register } from "../commands/auth-commands.ts";
import { printListing, resourceListing } from "../commands/list-pages.ts";
import { queueColumns } from "../commands/queue-commands.ts";
import { topicColumns, topicLabel } from "../commands/topic-commands.ts";
import { ExitCode } from "../exit-codes.ts";
import { type Column, formatPayload, Output } from "../output.ts";
import { parsePayload } from "../payload.ts";
import { CliSession } from "../session.ts";
import { LineReader } from "./line-reader.ts";

export interface MenuOptions {
  configPath: string;
  /** `-s/--server` given with no command; default: the saved servers. */
  servers?: string[] | undefined;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/** What the menu holds between choices. */
interface MenuState {
  readonly session: CliSession;
  readonly out: Output;
  readonly reader: LineReader;
  readonly queueSubscriptions: Map<string, QueueSubscription>;
  readonly topicSubscriptions: Map<string, TopicSubscription>;
  /** Topic messages collected since they were last viewed. */
  readonly collected: TopicMessage[];
}

interface MenuItem {
  label: string;
  run(state: MenuState): Promise<void>;
}

/** Asks for a required answer; null ends the menu (input closed). */
async function required(state: MenuState, prompt: string, secret = false): Promise<string | null> {
  for (;;) {
    const answer = await state.reader.ask(prompt, { secret });
    if (answer === null || answer !== "") return answer;
  }
}

/** A delete takes every message with it: only an explicit "y" goes ahead. */
async function confirmDelete(state: MenuState, kind: "queue" | "topic", name: string): Promise<boolean> {
  const answer = await state.reader.ask(`Delete ${kind} ${name} and every message in it? (y/N): `);
  if (answer !== null && /^y(es)?$/i.test(answer.trim())) return true;
  state.out.line(`Kept ${kind} ${name}.`);
  return false;
}

/** List, create and delete: what the menu offers alike for queues and for topics. */
function resourceItems<View>(kind: "queue" | "topic", columns: ReadonlyArray<Column<View>>): MenuItem[] {
  const plural = `${kind}s` as const;
  const askName = (state: MenuState) => required(state, `${kind === "queue" ? "Queue" : "Topic"} name: `);
  return [
    {
      label: `List ${plural}`,
      async run(state) {
        const client = await state.session.client();
        await printListing(state.out, {}, resourceListing(client, plural, columns, `No ${plural}.`));
      },
    },
    {
      label: `Create a ${kind}`,
      async run(state) {
        const name = await askName(state);
        if (name === null) return;
        await (await state.session.client())[plural].create(name);
        state.out.line(`Created ${kind} ${name}.`);
      },
    },
    {
      label: `Delete a ${kind}`,
      async run(state) {
        const name = await askName(state);
        if (name === null || !(await confirmDelete(state, kind, name))) return;
        await (await state.session.client())[plural].delete(name);
        state.out.line(`Deleted ${kind} ${name}.`);
      },
    },
  ];
}

/** The original console client's operations, in its order, plus unsubscribing from a topic. */
const ITEMS: MenuItem[] = [
  {
    label: "Register",
    async run(state) {
      const username = await required(state, "Username: ");
      const password = username === null ? null : await required(state, "Password: ", true);
      if (username === null || password === null) return;
      await register(state.session, username, password);
      state.out.line(`Registered ${username}.`);
    },
  },
  {
    label: "Log in",
    async run(state) {
      const username = await required(state, "Username: ");
      const password = username === null ? null : await required(state, "Password: ", true);
      if (username === null || password === null) return;
      await closeSubscriptions(state);
      await logIn(state.session, username, password);
      state.out.line(`Logged in as ${username}.`);
    },
  },
  ...resourceItems("queue", queueColumns),
  {
    label: "Send a message to a queue",
    async run(state) {
      const name = await required(state, "Queue name: ");
      const text = name === null ? null : await required(state, "Message (JSON or text): ");
      if (name === null || text === null) return;
      const { id } = await (await state.session.client()).queues.publish(name, parsePayload(text, false));
      state.out.line(`Sent message ${id} to ${name}.`);
    },
  },
  {
    label: "Receive a message from a queue",
    async run(state) {
      const name = await required(state, "Queue name: ");
      if (name === null) return;
      const [message] = await (await state.session.client()).queues.receive(name, { waitMs: 1000 });
      if (message === undefined) {
        state.out.line(`No message in ${name}.`);
        return;
      }
      await message.ack();
      state.out.line(`Received from ${name}: #${message.id} ${formatPayload(message.payload)}`);
    },
  },
  {
    label: "Subscribe to a queue",
    async run(state) {
      const name = await required(state, "Queue name: ");
      if (name === null) return;
      if (state.queueSubscriptions.has(name)) {
        state.out.line(`Already subscribed to ${name}.`);
        return;
      }
      const subscription = (await state.session.client()).queues.subscribe(name, {
        prefetch: 10,
        autoAck: true,
        onMessage: (message) =>
          state.reader.interject(`[queue ${name}] #${message.id} ${formatPayload(message.payload)}`),
      });
      subscription.on("closed", () => void state.queueSubscriptions.delete(name));
      await subscription.ready();
      state.queueSubscriptions.set(name, subscription);
      state.out.line(`Subscribed to queue ${name}; its messages are printed and acked as they arrive.`);
    },
  },
  {
    label: "Unsubscribe from a queue",
    async run(state) {
      await unsubscribe(state, state.queueSubscriptions, "queue");
    },
  },
  ...resourceItems("topic", topicColumns),
  {
    label: "Publish to a topic",
    async run(state) {
      const name = await required(state, "Topic name: ");
      const key = name === null ? null : await state.reader.ask("Routing key (empty for none): ");
      const text = key === null ? null : await required(state, "Message (JSON or text): ");
      if (name === null || key === null || text === null) return;
      const options = key === "" ? {} : { key };
      const { offset } = await (await state.session.client()).topics.publish(
        name,
        parsePayload(text, false),
        options,
      );
      state.out.line(`Published to ${name} at offset ${offset}.`);
    },
  },
  {
    label: "Subscribe to a topic",
    async run(state) {
      const name = await required(state, "Topic name: ");
      const pattern = name === null ? null : await state.reader.ask("Pattern (empty for #): ");
      if (name === null || pattern === null) return;
      if (state.topicSubscriptions.has(name)) {
        state.out.line(`Already subscribed to ${name}.`);
        return;
      }
      const subscription = (await state.session.client()).topics.subscribe(name, {
        pattern: pattern === "" ? "#" : pattern,
        onMessage: (message) => void state.collected.push(message),
      });
      subscription.on("closed", () => void state.topicSubscriptions.delete(name));
      await subscription.ready();
      state.topicSubscriptions.set(name, subscription);
      state.out.line(
        `Subscribed to topic ${name}; view its messages with "View messages from subscribed topics".`,
      );
    },
  },
  {
    label: "Unsubscribe from a topic",
    async run(state) {
      await unsubscribe(state, state.topicSubscriptions, "topic");
    },
  },
  {
    label: "View messages from subscribed topics",
    async run(state) {
      const messages = state.collected.splice(0);
      if (messages.length === 0) state.out.line("No new messages.");
      for (const message of messages) {
        state.out.line(`[topic ${message.topic}] ${topicLabel(message)} ${formatPayload(message.payload)}`);
      }
    },
  },
];

async function unsubscribe(
  state: MenuState,
  subscriptions: Map<string, { close(): Promise<void> }>,
  kind: "queue" | "topic",
): Promise<void> {
  if (subscriptions.size === 0) {
    state.out.line(`You are not subscribed to any ${kind}.`);
    return;
  }
  const name = await required(
    state,
    `${kind === "queue" ? "Queue" : "Topic"} (${[...subscriptions.keys()].join(", ")}): `,
  );
  if (name === null) return;
  const subscription = subscriptions.get(name);
  if (subscription === undefined) {
    state.out.line(`You are not subscribed to ${kind} ${name}.`);
    return;
  }
  await subscription.close();
  subscriptions.delete(name);
  state.out.line(`Unsubscribed from ${kind} ${name}.`);
}

async function closeSubscriptions(state: MenuState): Promise<void> {
  const all = [...state.queueSubscriptions.values(), ...state.topicSubscriptions.values()];
  await Promise.all(all.map((subscription) => subscription.close()));
  state.queueSubscriptions.clear();
  state.topicSubscriptions.clear();
}

function printMenu(out: Output): void {
  out.line("");
  for (const [index, item] of ITEMS.entries()) out.line(`${String(index + 1).padStart(2)}) ${item.label}`);
  out.line(" 0) Exit");
}

/**
 * `aviso` without arguments: a numbered menu read line by line, so it works
 * on a terminal and from a script or pipe alike. Errors are shown and the
 * menu goes on; it ends with 0) Exit or at end of input.
 */
export async function runMenu(options: MenuOptions): Promise<number> {
  const out = new Output(false, options.output, options.output);
  const session = new CliSession(options.configPath, out, options.servers);
  const reader = new LineReader(options.input, options.output);
  const state: MenuState = {
    session,
    out,
    reader,
    queueSubscriptions: new Map(),
    topicSubscriptions: new Map(),
    collected: [],
  };
  const config = await session.config();
  const who = config.token === undefined ? "not logged in" : `logged in as ${config.username ?? "?"}`;
  out.line(`Aviso — ${(await session.servers()).join(", ")} (${who})`);
  try {
    for (;;) {
      printMenu(out);
      const choice = await reader.ask("Choose: ");
      if (choice === null || choice === "0") break;
      const item = ITEMS[Number(choice) - 1];
      if (!/^\d+$/.test(choice) || item === undefined) {
        out.line(`No option "${choice}"; choose a number from the menu.`);
        continue;
      }
      try {
        await item.run(state);
      } catch (error) {
        out.error(error);
      }
    }
  } finally {
    reader.close();
    await closeSubscriptions(state);
    await session.close();
  }
  out.line("Bye.");
  return ExitCode.Ok;
}
