/**
 * A queue publisher over REST, as services publish: HTTP/1.1 keep-alive
 * connections (node:http Agent), `window` requests in flight, each carrying
 * one message (`{payload}`) or a batch (`{messages:[…]}`). Latency is per
 * request (sent → 201).
 */
import { Agent, request } from "node:http";
import { Histogram } from "../lib/histogram.ts";
import type { Pacer } from "../lib/pacer.ts";

export interface RestPublisherOptions {
  baseUrl: string;
  token: string;
  queue: string;
  payloadJson: string;
  /** Messages per request; 1 sends the single-message body. */
  batch: number;
  /** Requests in flight (= keep-alive connections). */
  window: number;
  maxMessages: number;
  pacer: Pacer;
  measuring: () => boolean;
}

export class RestQueuePublisher {
  sent = 0;
  oks = 0;
  errors = 0;
  lastError = "";
  inFlight = 0;
  readonly latency = new Histogram();
  private running = true;
  private readonly agent: Agent;
  private readonly body: Buffer;
  private readonly url: URL;
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly options: RestPublisherOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.window });
    this.url = new URL(`/v1/queues/${encodeURIComponent(options.queue)}/messages`, options.baseUrl);
    const message = `{"payload":${options.payloadJson}}`;
    this.body = Buffer.from(
      options.batch === 1 ? message : `{"messages":[${new Array(options.batch).fill(message).join(",")}]}`,
    );
    this.ticker = setInterval(() => this.pump(), 2);
    this.pump();
  }

  private pump(): void {
    const { window, batch, maxMessages, pacer } = this.options;
    while (
      this.running &&
      this.inFlight < window &&
      this.sent + batch <= maxMessages &&
      pacer.allowance(this.sent) >= batch
    ) {
      this.send();
    }
  }

  private send(): void {
    this.inFlight++;
    this.sent += this.options.batch;
    const started = performance.now();
    const req = request(this.url, {
      method: "POST",
      agent: this.agent,
      headers: {
        authorization: `Bearer ${this.options.token}`,
        "content-type": "application/json",
        "content-length": this.body.length,
      },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        if (res.statusCode === 201) {
          this.oks += this.options.batch;
          if (this.options.measuring()) this.latency.recordMicros((performance.now() - started) * 1000);
        } else {
          this.errors++;
          this.lastError = `HTTP ${res.statusCode} ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`;
        }
        this.done();
      });
    });
    req.on("error", (error) => {
      this.errors++;
      this.lastError = String(error);
      this.done();
    });
    req.end(this.body);
  }

  private done(): void {
    this.inFlight--;
    this.pump();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.ticker);
  }

  close(): void {
    this.stop();
    this.agent.destroy();
  }
}
