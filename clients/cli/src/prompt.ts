import { createInterface } from "node:readline";

/**
 * Reads one answer from stdin. On a terminal a secret is not echoed; from a
 * pipe (scripts, tests) the next line is taken as it is.
 */
export function ask(question: string, options: { secret?: boolean } = {}): Promise<string> {
  const input = process.stdin;
  const output = process.stderr;
  return new Promise((resolve, reject) => {
    const terminal = input.isTTY === true;
    const readline = createInterface({ input, output, terminal });
    let muted = false;
    if (options.secret === true && terminal) {
      // Echo nothing after the question while the secret is typed.
      const write = output.write.bind(output);
      (readline as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = (text: string) => {
        if (!muted) write(text);
      };
    }
    readline.question(question, (answer) => {
      // Settle first: close() emits "close" synchronously, which would reject.
      resolve(answer);
      readline.close();
      if (muted) output.write("\n");
    });
    muted = options.secret === true && terminal;
    readline.once("close", () => reject(new Error("No answer: stdin ended.")));
  });
}
