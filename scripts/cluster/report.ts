/**
 * What the launcher prints. Lines that name a process have a fixed shape,
 * `<name>  <address>  pid <pid>  log <file>`, and the start ends with a line
 * beginning `ready:` — test/cluster/launcher.test.ts reads both.
 */

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function processLine(name: string, address: string, pid: number, logFile: string): string {
  return `${name.padEnd(10)} ${address}  pid ${pid}  log ${logFile}`;
}

export function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** The ready line and a block of commands to paste into a shell. */
export function readyText(options: {
  nodes: number;
  startupMs: number;
  firstUrl: string;
  secondUrl: string;
}): string {
  const { firstUrl, secondUrl } = options;
  const json = "-H 'content-type: application/json'";
  const credentials = `'{"username":"alice","password":"correct horse"}'`;
  return [
    `ready: ${options.nodes} nodes, every node lists ${options.nodes} members (started in ${(options.startupMs / 1000).toFixed(1)} s)`,
    "",
    "Try it (register and log in on one node, use the token on any):",
    `  curl -s -XPOST ${firstUrl}/v1/auth/register ${json} -d ${credentials}`,
    `  TOKEN=$(curl -s -XPOST ${firstUrl}/v1/auth/login ${json} -d ${credentials} | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
    `  curl -s ${secondUrl}/v1/cluster -H "authorization: Bearer $TOKEN"`,
    "",
    "Ctrl-C stops everything (a second Ctrl-C forces).",
  ].join("\n");
}
