import type { Principal } from "../../app/context.ts";
import type { Services } from "../../app/services.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { errorFrame, okFrame, type RequestIdValue } from "./frames.ts";

/** Where one kind of publish goes (the queue or the topic service) and how its result is answered. */
export interface PublishTarget<Input, Result> {
  /** "queue" or "topic": batches never mix kinds. */
  kind: string;
  /** One answer per input, in order: a result, or that input's refusal (the services' publishPrepared). */
  publish(
    services: Services,
    principal: Principal,
    name: string,
    inputs: Input[],
  ): Promise<(Result | AvisoError)[]>;
  /** The fields of the `ok` frame for one message's result. */
  ok(result: Result): Record<string, unknown>;
}

/** What the gatherer reads of a prepared message (both kinds' publish inputs have it). */
interface PreparedInput {
  payload: string;
  headers: string | null;
  idempotencyKey?: string;
}

interface Batch {
  target: PublishTarget<unknown, unknown>;
  principal: Principal;
  name: string;
  /** Whether the inputs carry idempotency keys: a batch is all one or the other (see add). */
  keyed: boolean;
  /** Payload and header characters so far (see maxBytes). */
  bytes: number;
  inputs: unknown[];
  ids: RequestIdValue[];
}

/**
 * A socket's `publish` frames to one queue or topic that arrive in the same
 * turn of the event loop, published as one batch: one authorization and one
 * write for the lot instead of one each (a client with many publishes in
 * flight sends them in bursts). Each frame is encoded and checked on its own
 * as it arrives (a bad payload is refused alone, before it gets here), is
 * charged to the publish rate on its own, in order, and is answered on its
 * own with its own id, so a client sees what it saw when every frame went
 * alone; the service answers one result or refusal per frame.
 *
 * A batch holds frames that all carry an idempotency key or all do not: a
 * cluster retries a publish whose serving node is moving only when every
 * message of it has a key. A change of principal (a refreshed token) or of
 * that kind closes the open batch and starts the next, so frames are
 * published in the order they were sent.
 */
export class PublishBatches {
  private readonly open = new Map<string, Batch>();
  private scheduled = false;

  constructor(
    private readonly services: Services,
    private readonly send: (frame: string) => void,
    /** Most messages in one batch (the batch publish limit). */
    private readonly maxMessages: number,
    /**
     * Payload and header characters after which a batch is full (a REST
     * batch's body limit), so a batch stays far below the peer link's
     * message limit; one bigger message still goes, alone.
     */
    private readonly maxBytes: number,
    /** Told when a flush left nothing open, so an idle socket need not keep this. */
    private readonly onIdle: () => void = () => {},
  ) {}

  add<Input extends PreparedInput, Result>(
    target: PublishTarget<Input, Result>,
    principal: Principal,
    name: string,
    input: Input,
    id: RequestIdValue,
  ): void {
    const key = `${target.kind}\u0000${name}`;
    const keyed = input.idempotencyKey !== undefined;
    const bytes = input.payload.length + (input.headers?.length ?? 0);
    let batch = this.open.get(key);
    if (
      batch !== undefined &&
      (batch.principal !== principal || batch.keyed !== keyed || batch.bytes + bytes > this.maxBytes)
    ) {
      this.close(key, batch);
      batch = undefined;
    }
    if (batch === undefined) {
      const anyTarget = target as unknown as PublishTarget<unknown, unknown>;
      batch = { target: anyTarget, principal, name, keyed, bytes: 0, inputs: [], ids: [] };
      this.open.set(key, batch);
    }
    batch.inputs.push(input);
    batch.ids.push(id);
    batch.bytes += bytes;
    if (batch.inputs.length >= this.maxMessages) this.close(key, batch);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const [key, batch] of [...this.open]) this.close(key, batch);
    if (this.open.size === 0) this.onIdle();
  }

  private close(key: string, batch: Batch): void {
    this.open.delete(key);
    const { target, principal, name, inputs, ids } = batch;
    let answering: Promise<unknown[]>;
    try {
      answering = target.publish(this.services, principal, name, inputs);
    } catch (error) {
      answering = Promise.reject(error);
    }
    answering.then(
      (answers) => {
        ids.forEach((id, i) => {
          const answer = answers[i];
          if (answer instanceof AvisoError) this.send(errorFrame(answer, { id }));
          else if (answer === undefined) this.send(errorFrame(missingAnswer(), { id }));
          else this.send(okFrame(id, target.ok(answer)));
        });
      },
      (thrown: unknown) => {
        const error = AvisoError.from(thrown);
        for (const id of ids) this.send(errorFrame(error, { id }));
      },
    );
  }
}

function missingAnswer(): AvisoError {
  return new AvisoError("INTERNAL", "The publish was answered without a result for this message.");
}
