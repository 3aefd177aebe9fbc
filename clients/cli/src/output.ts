import { AvisoClientError } from "@aviso/client";
import Table from "cli-table3";
import pc from "picocolors";
import { UsageError } from "./exit-codes.ts";

type Colors = ReturnType<typeof pc.createColors>;

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
}

/** Hints for reasons a user can act on. */
const HINTS: Record<string, string> = {
  NOT_LOGGED_IN: "Log in first: aviso login <username>",
  TOKEN_EXPIRED: "Your login expired: aviso login <username>",
  TOKEN_INVALID: "Your saved token is not valid here: aviso login <username>",
  TOKEN_REVOKED: "Your login was revoked (logged out everywhere): aviso login <username>",
  BAD_CREDENTIALS: "Check the username and password (aviso register <username> creates an account).",
  NETWORK_ERROR: "Is the node running? Choose servers with --server <url> or log in again with --server.",
  NOT_RESOURCE_OWNER: "Only the user who created it may do this.",
  ACCESS_DENIED: "The resource is private: ask its creator for a grant.",
};

/**
 * Everything the CLI prints goes through here: tables and colour on a TTY,
 * JSON with --json (one document, or one line per message when streaming),
 * errors on stderr with their reason.
 */
export class Output {
  readonly colors: Colors;

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {
    const tty = stdout.isTTY === true;
    this.colors = pc.createColors(pc.isColorSupported && (tty || process.env.FORCE_COLOR !== undefined));
  }

  line(text = ""): void {
    this.stdout.write(`${text}\n`);
  }

  /** A result: its JSON with --json, else the human sentence. */
  result(value: unknown, human: string): void {
    if (this.json) this.line(JSON.stringify(value));
    else this.line(human);
  }

  /** Rows as a table, or their JSON with --json. */
  table<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, empty: string): void {
    if (this.json) {
      this.line(JSON.stringify(rows));
      return;
    }
    if (rows.length === 0) {
      this.line(this.colors.dim(empty));
      return;
    }
    const table = new Table({
      head: columns.map((column) => this.colors.bold(column.header)),
      style: { head: [], border: [] },
    });
    for (const row of rows) table.push(columns.map((column) => cell(column.value(row))));
    this.line(table.toString());
  }

  /** One streamed message: a line of JSON with --json, else `#id … payload`. */
  message(fields: Record<string, unknown>, label: string, payload: unknown): void {
    if (this.json) this.line(JSON.stringify(fields));
    else this.line(`${this.colors.dim(label)} ${formatPayload(payload)}`);
  }

  /** Human notes (status, hints) go to stderr so stdout stays parseable. */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${this.colors.dim(text)}\n`);
  }

  error(error: unknown): void {
    if (error instanceof AvisoClientError) {
      if (this.json) {
        const { code, reason, message, status } = error;
        this.stderr.write(`${JSON.stringify({ error: { code, reason, message, status } })}\n`);
        return;
      }
      const status = error.status === undefined ? "" : `${error.status} `;
      this.stderr.write(
        `${this.colors.red("aviso:")} ${error.message} ${this.colors.dim(`(${status}${error.reason})`)}\n`,
      );
      const hint = HINTS[String(error.reason)];
      if (hint !== undefined) this.stderr.write(`${this.colors.dim(hint)}\n`);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) {
      const reason = error instanceof UsageError ? "USAGE" : "FAILURE";
      this.stderr.write(`${JSON.stringify({ error: { reason, message } })}\n`);
    } else this.stderr.write(`${this.colors.red("aviso:")} ${message}\n`);
  }
}

export function formatPayload(payload: unknown): string {
  return typeof payload === "string" ? payload : JSON.stringify(payload);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && value > 1e12 && value < 1e14) return new Date(value).toISOString();
  return typeof value === "string" ? value : JSON.stringify(value);
}
