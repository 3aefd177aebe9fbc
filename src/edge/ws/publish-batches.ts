import type { Principal } from "../../app/context.ts";
import type { Services } from "../../app/services.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { Code } from "../../errors/code.ts";
import { errorFrame, okFrame, type RequestIdValue } from "./frames.ts";

/** Refusals that depend on the batch's messages (their content, size or count), not on who sends them where. */
const batchDependent: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.PayloadTooLarge,
  Code.ResourceExhausted,
]);

/** Where one kind of publish goes (the queue or the topic service) and how its result is answered. */
export interface PublishTarget<Message, Result> {
  /** "queue" or "topic": batches never mix kinds. */
  kind: string;
  publish(services: Services, principal: Principal, name: string, messages: Message[]): Promise<Result[]>;
  /** The fields of the `ok` frame for one message's result. */
  ok(result: Result): Record<string, unknown>;
}

interface Batch {
  target: PublishTarget<unknown, unknown>;
  principal: Principal;
  name: string;
  messages: unknown[];
  ids: RequestIdValue[];
}

/**
 * A socket's `publish` frames to one queue or topic that arrive in the same
 * turn of the event loop, published as one batch: one authorization, one
 * quota charge and one write for the lot instead of one each (a client with
 * many publishes in flight sends them in bursts). Each frame is still
 * answered on its own, in order, with its own id.
 *
 * A batch refused for what is in it (one bad payload, the rate limit, a full
 * queue: `batchDependent`) changed nothing, so its frames are then published
 * one by one, and each gets the answer it would have had alone. Any other
 * failure is every frame's answer: a refusal of the caller or the resource
 * (denied, not found) would refuse each frame alike, and a store failure or
 * fence answered them all when the frames shared a group commit.
 */
export class PublishBatches {
  private readonly open = new Map<string, Batch>();
  private scheduled = false;

  constructor(
    private readonly services: Services,
    private readonly send: (frame: string) => void,
    /** Most messages in one batch (the batch publish limit). */
    private readonly maxMessages: number,
  ) {}

  add<Message, Result>(
    target: PublishTarget<Message, Result>,
    principal: Principal,
    name: string,
    message: Message,
    id: RequestIdValue,
  ): void {
    const key = `${target.kind}\u0000${name}`;
    let batch = this.open.get(key);
    if (batch !== undefined && batch.principal !== principal) {
      // A refreshed token mid-turn: what came before goes as it was authorized.
      this.close(key, batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { target: target as PublishTarget<unknown, unknown>, principal, name, messages: [], ids: [] };
      this.open.set(key, batch);
    }
    batch.messages.push(message);
    batch.ids.push(id);
    if (batch.messages.length >= this.maxMessages) this.close(key, batch);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const [key, batch] of [...this.open]) this.close(key, batch);
  }

  private close(key: string, batch: Batch): void {
    this.open.delete(key);
    this.publish(batch, true);
  }

  private publish(batch: Batch, gathered: boolean): void {
    const { target, principal, name, messages, ids } = batch;
    target.publish(this.services, principal, name, messages).then(
      (results) => {
        results.forEach((result, i) => {
          this.send(okFrame(ids[i], target.ok(result)));
        });
      },
      (thrown: unknown) => {
        const error = AvisoError.from(thrown);
        if (gathered && messages.length > 1 && batchDependent.has(error.code)) {
          messages.forEach((message, i) => {
            this.publish(
              { target, principal, name, messages: [message], ids: [ids[i] as RequestIdValue] },
              false,
            );
          });
          return;
        }
        for (const id of ids) this.send(errorFrame(error, { id }));
      },
    );
  }
}
