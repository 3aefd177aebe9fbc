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
  /** The prompt whose answer is awaited, to show again below a line printed meanwhile. */
  private pendingPrompt: string | null = null;
  private readonly terminal: boolean;
  private readonly readline: Interface;

  constructor(
    input: NodeJS.ReadableStream & { isTTY?: boolean },
    private readonly output: NodeJS.WritableStream,
  ) {
    const terminal = input.isTTY === true;
    this.terminal = terminal;
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
        this.pendingPrompt = null;
        resolve(line);
      } else this.lines.push(line);
    });
    this.readline.on("close", () => {
      this.ended = true;
      this.pendingPrompt = null;
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
    this.pendingPrompt = prompt;
    return new Promise((resolve) => {
      this.waiting = (answer) => resolve(answer === null ? null : answer.trim());
    });
  }

  /**
   * Prints a line that arrived on its own (a pushed message) without
   * swallowing a pending prompt: on a terminal the prompt line is cleared,
   * the text printed, and the prompt drawn again with what was typed so far;
   * on a pipe the prompt is printed again after the text.
   */
  interject(text: string): void {
    const prompt = this.pendingPrompt;
    if (prompt === null) this.output.write(`${text}\n`);
    else if (!this.terminal) this.output.write(`\n${text}\n${prompt}`);
    else {
      const typed = this.muted ? "" : this.readline.line;
      this.output.write(`\r\x1b[2K${text}\n${prompt}${typed}`);
    }
  }

  close(): void {
    this.readline.close();
  }
}
