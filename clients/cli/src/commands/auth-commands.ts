import { createClient } from "@aviso/client";
import { type Command, Option } from "commander";
import { ask } from "../prompt.ts";
import { CLI_RETRY_FOR_MS, type CliSession } from "../session.ts";

type SessionFactory = () => CliSession;

/** The password from --password, AVISO_PASSWORD, or a prompt (hidden on a terminal). */
async function passwordFrom(option: string | undefined): Promise<string> {
  if (option !== undefined) return option;
  const fromEnv = process.env.AVISO_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return ask("Password: ", { secret: true });
}

async function usernameFrom(argument: string | undefined): Promise<string> {
  return argument ?? (await ask("Username: "));
}

/** Logs in and saves token and servers to the config file; shared with the interactive menu. */
export async function logIn(
  session: CliSession,
  username: string,
  password: string,
): Promise<{ expiresAt: number }> {
  const urls = await session.servers();
  const client = createClient({ urls, randomizeUrls: false, retryForMs: CLI_RETRY_FOR_MS });
  try {
    const { token, expiresAt } = await client.auth.login({ username, password });
    await session.updateConfig((config) => ({ ...config, servers: urls, username, token, expiresAt }));
    await session.resetClient();
    return { expiresAt };
  } finally {
    await client.close();
  }
}

export async function register(session: CliSession, username: string, password: string): Promise<void> {
  const client = createClient({
    urls: await session.servers(),
    randomizeUrls: false,
    retryForMs: CLI_RETRY_FOR_MS,
  });
  try {
    await client.auth.register({ username, password });
  } finally {
    await client.close();
  }
}

export function addAuthCommands(program: Command, session: SessionFactory): void {
  const passwordOption = () =>
    new Option("-p, --password <password>", "password (default: $AVISO_PASSWORD, else asked)");

  program
    .command("register")
    .description("create an account")
    .argument("[username]", "the new user's name (asked when missing)")
    .addOption(passwordOption())
    .action(async (name: string | undefined, options: { password?: string }) => {
      const current = session();
      const username = await usernameFrom(name);
      await register(current, username, await passwordFrom(options.password));
      current.output.result({ username }, `Registered ${username}. Log in with: aviso login ${username}`);
    });

  program
    .command("login")
    .description("log in and save the token (and the servers used) in the config file")
    .argument("[username]", "who to log in as (asked when missing)")
    .addOption(passwordOption())
    .action(async (name: string | undefined, options: { password?: string }) => {
      const current = session();
      const username = await usernameFrom(name);
      const { expiresAt } = await logIn(current, username, await passwordFrom(options.password));
      const servers = await current.servers();
      current.output.result(
        { username, servers, expiresAt },
        `Logged in as ${username} on ${servers.join(", ")} (until ${new Date(expiresAt).toLocaleString()}).`,
      );
    });

  program
    .command("logout")
    .description("forget the saved token")
    .action(async () => {
      const current = session();
      await current.updateConfig(({ token: _token, expiresAt: _expiresAt, ...rest }) => rest);
      current.output.result({ loggedOut: true }, "Logged out.");
    });

  program
    .command("whoami")
    .description("show who the saved token belongs to")
    .action(async () => {
      const current = session();
      const me = await (await current.client()).auth.me();
      current.output.result(
        me,
        `${me.username} (token valid until ${new Date(me.tokenExpiresAt).toLocaleString()})`,
      );
    });
}
