import { createInterface, type Interface } from "node:readline";

/**
 * Answers prompts from a stream of lines. Lines that arrive before the
 * question is asked are kept (scripted stdin sends them all at once, and
 * readline's own `question` would drop them); at end of input every
 * question answers null.
 */
export class LineReader {
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private ended = false;
  private muted = false;
  private readonly readline: Interface;

  constructor(
    input: NodeJS.ReadableStream & { isTTY?: boolean },
    private readonly output: NodeJS.WritableStream,
  ) {
    const terminal = input.isTTY === true;
    this.readline = createInterface({ input, output, terminal });
    if (terminal) {
      // On a terminal readline echoes what is typed; a secret must not be (the usual readline hook).
      const hooks = this.readline as unknown as { _writeToOutput: (text: string) => void };
      const write = hooks._writeToOutput.bind(this.readline);
      hooks._writeToOutput = (text) => {
        if (!this.muted) write(text);
      };
    }
    this.readline.on("line", (line) => {
      if (this.muted) {
        this.muted = false;
        this.output.write("\n");
      }
      if (this.waiting !== null) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(line);
      } else this.lines.push(line);
    });
    this.readline.on("close", () => {
      this.ended = true;
      this.waiting?.(null);
      this.waiting = null;
    });
  }

  /** Prints `prompt` and answers the next line, trimmed; null once the input ended. A secret is not echoed. */
  ask(prompt: string, options: { secret?: boolean } = {}): Promise<string | null> {
    this.output.write(prompt);
    if (options.secret === true && this.lines.length === 0) this.muted = true;
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line.trim());
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = (answer) => resolve(answer === null ? null : answer.trim());
    });
  }

  close(): void {
    this.readline.close();
  }
}
