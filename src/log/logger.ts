import { type DestinationStream, type Logger, pino } from "pino";
import type { Config } from "../config/schema.ts";

export type { Logger };

/** Field names whose values never reach a log line, at any of the first four levels of nesting. */
const secretFields = [
  "password",
  "newPassword",
  "passwordHash",
  "token",
  "accessToken",
  "authorization",
  "Authorization",
  "cookie",
  "secret",
  "tokenSecret",
  "clusterSecret",
  "store",
] as const;

const redactPaths = secretFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]);

export const redactedText = "[redacted]";

/** Store URLs stay useful in logs (which database?) with their password masked. */
function censor(value: unknown, path: string[]): string {
  if (path.at(-1) === "store" && typeof value === "string")
    return value.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  return redactedText;
}

/**
 * The process's root logger. `destination` defaults to stdout; tests pass a
 * memory stream. Children (`log.child({component})`) inherit the redaction.
 */
export function createLogger(config: Pick<Config, "logLevel">, destination?: DestinationStream): Logger {
  const options = {
    name: "aviso",
    level: config.logLevel,
    redact: { paths: redactPaths, censor },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
