import { type ConfigKeyInfo, configKeys } from "./schema.ts";

/** `--help`: every setting with its flag, environment variable, default and meaning. */
export function helpText(): string {
  const lines = [
    "Usage: npm start -- [--flag value …]    (or: node dist/main.js [--flag value …])",
    "",
    "Settings come from defaults ← a JSON file (--config file.json, AVISO_CONFIG) ← AVISO_* environment",
    "variables ← flags. Every setting, its environment variable and its default:",
    "",
  ];
  for (const info of configKeys) {
    lines.push(`  ${info.flag} <${valueName(info)}>   ${info.env}   default: ${defaultText(info)}`);
    lines.push(`      ${info.description}`);
  }
  lines.push(
    "",
    "  --config <file.json>   AVISO_CONFIG   default: none",
    "      JSON file with any of the keys above.",
    "",
    "Docs: docs/operations.md (settings, running, clusters), README.md; a running node serves /docs.",
  );
  return `${lines.join("\n")}\n`;
}

function valueName(info: ConfigKeyInfo): string {
  return info.kind === "boolean" ? "true|false" : info.kind === "string" ? "text" : info.kind;
}

function defaultText(info: ConfigKeyInfo): string {
  if (info.default === undefined) return "none";
  if (info.default === "") return '"" (empty)';
  return String(info.default);
}
