import type { JsonText, Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { newResourceId } from "../shared/resource-id.ts";
import type { KeyPage } from "../store/key-page.ts";
import {
  assertCreator,
  assertMaySee,
  assertMayUse,
  assertUnscoped,
  notFoundReason,
  resourceNotFound,
  type Visible,
  withoutHiddenCreator,
} from "./access.ts";
import type { DefinitionOf, Resource } from "./catalog.ts";
import type { AppContext, Principal, ServingNode } from "./context.ts";
import { assertBatchSize, encodeHeaders, encodePayload, publisherIdempotencyKey } from "./encode.ts";
import { type Page, type PageRequest, visibleResourcePage } from "./list-page.ts";
import { assertValidName } from "./names.ts";
import type { Quotas } from "./quotas.ts";

/** What a published message carries, whichever kind it goes to. */
export interface MessageInput {
  payload: unknown;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

/** A message as both kinds store it. */
interface EncodedMessage {
  payload: JsonText;
  headers: JsonText | null;
  idempotencyKey?: string;
}

/** The fields every queue and topic definition has, which createDefinition fills in. */
type CommonFields = "id" | "name" | "creator" | "private" | "createdAt";

/**
 * What the queue and topic services share, by kind: the create and publish
 * pipelines, list, get, lookup, delete and authorize. Each service adds what
 * only its kind does (its settings, its messages' own fields, receive,
 * history, …).
 */
export abstract class ResourceService<K extends ResourceKind, View extends { creator: string }> {
  /** Which kind this service serves. */
  protected abstract readonly kind: K;

  constructor(
    protected readonly ctx: AppContext,
    protected readonly quotas: Quotas,
  ) {}

  /** The caller's view of one definition (with live counts or offsets). */
  protected abstract view(definition: DefinitionOf[K]): Promise<View>;

  /**
   * The create pipeline of both kinds: unscoped callers only, a valid name,
   * the kind's own `settings` (which may look things up) on the common
   * fields, the definition written (`write`) within the creator's quota, and
   * every node told.
   */
  protected async createDefinition(
    principal: Principal,
    input: { name: string; private?: boolean },
    settings: () => Promise<Omit<DefinitionOf[K], CommonFields>>,
    write: (definition: DefinitionOf[K]) => Promise<void>,
  ): Promise<DefinitionOf[K]> {
    const { config, clock, catalog } = this.ctx;
    assertUnscoped(principal, `create ${this.kind}s`);
    assertValidName(this.kind, input.name, config.maxNameLength);
    const own = await settings();
    const definition = {
      id: newResourceId(),
      name: input.name,
      creator: principal.username,
      private: input.private ?? false,
      ...own,
      createdAt: clock.now(),
    } as DefinitionOf[K];
    await this.quotas.createWithinQuota(this.kind, principal.username, () => write(definition));
    await catalog.changed(this.kind, definition.name);
    return definition;
  }

  /** One page of those the caller may see, by name (src/app/list-page.ts). */
  list(principal: Principal, request: PageRequest = {}): Promise<Page<Visible<View>>> {
    return visibleResourcePage(
      this.ctx,
      principal,
      this.kind,
      request,
      (page) => this.readDefinitions(page),
      (definition) => this.view(definition),
    );
  }

  async get(principal: Principal, name: string): Promise<Visible<View>> {
    return withoutHiddenCreator(principal, await this.view((await this.visible(principal, name)).definition));
  }

  /** The node serving it now: clients that connect there skip a hop between nodes. */
  async lookup(principal: Principal, name: string): Promise<ServingNode> {
    await this.visible(principal, name);
    return this.ctx.locate(this.kind, name);
  }

  /** Its creator only; the serving node lets go of it, ending what is attached there. */
  async delete(principal: Principal, name: string): Promise<void> {
    const { kind } = this;
    const resource = await this.ctx.catalog.resource(kind, name);
    assertCreator(principal, kind, resource, "delete");
    const { store, clock } = this.ctx;
    const at = clock.now();
    const deleted = await (kind === "queue" ? store.deleteQueue(name, at) : store.deleteTopic(name, at));
    await this.ctx.catalog.changed(kind, name);
    if (!deleted) throw resourceNotFound(kind, name);
    const title = kind === "queue" ? "Queue" : "Topic";
    const gone = new AvisoError(notFoundReason(kind), `${title} "${name}" was deleted.`);
    this.ctx.servingNodes.release(kind, name, gone);
  }

  async authorize(
    principal: Principal,
    name: string,
    permission: Permission,
  ): Promise<Resource<DefinitionOf[K]>> {
    const resource = await this.ctx.catalog.resource(this.kind, name);
    assertMayUse(principal, this.kind, resource, permission);
    return resource;
  }

  /** The resource, if the caller may see it; not found otherwise, as if it did not exist (S7). */
  protected async visible(principal: Principal, name: string): Promise<Resource<DefinitionOf[K]>> {
    const resource = await this.ctx.catalog.resource(this.kind, name);
    assertMaySee(principal, this.kind, resource);
    return resource;
  }

  /** One keyset page of every definition of this kind, by name. */
  private readDefinitions(page: KeyPage): Promise<DefinitionOf[K][]> {
    const { store } = this.ctx;
    const read = this.kind === "queue" ? store.listQueues(page) : store.listTopics(page);
    return read as Promise<DefinitionOf[K][]>;
  }

  /**
   * The publish pipeline of both kinds: the batch bounded, each message
   * encoded (`encode`, with encodeMessage), the caller authorized and charged
   * to their publish rate, the batch sent, then counted and timed.
   */
  protected async publishMessages<Message, Input, Result>(
    principal: Principal,
    name: string,
    messages: readonly Message[],
    encode: (message: Message) => Input,
    send: (inputs: Input[]) => Promise<Result[]>,
  ): Promise<Result[]> {
    assertBatchSize(messages.length, this.ctx.config.maxBatchMessages);
    const inputs = messages.map((message) => encode(message));
    const started = performance.now();
    await this.authorize(principal, name, "publish");
    this.quotas.takePublishTokens(principal.username, inputs.length);
    const results = await send(inputs);
    this.countPublished(results.length, started);
    return results;
  }

  /** A publish's messages counted and its latency since `started` (performance.now()) observed. */
  private countPublished(messages: number, started: number): void {
    const { metrics } = this.ctx;
    metrics.messagesPublished.inc({ kind: this.kind }, messages);
    metrics.publishLatencySeconds.observe({ kind: this.kind }, (performance.now() - started) / 1000);
  }

  /**
   * The publish pipeline of a WebSocket's gathered publishes
   * (src/edge/ws/publish-batches.ts): `inputs` were encoded one by one as
   * their frames arrived (each frame's own refusal is its own), so here the
   * caller is authorized once and each message charged to the publish rate in
   * order (past the bucket a message is refused alone, as if sent alone),
   * and the rest sent together. Answers one result or refusal per input, in
   * order; a refusal of the whole (access, the queue full, the store) is every
   * charged input's answer.
   */
  protected async publishEach<Input, Result>(
    principal: Principal,
    name: string,
    inputs: readonly Input[],
    send: (inputs: Input[]) => Promise<Result[]>,
  ): Promise<(Result | AvisoError)[]> {
    const answers: (Result | AvisoError)[] = [];
    const started = performance.now();
    try {
      assertBatchSize(inputs.length, this.ctx.config.maxBatchMessages);
      await this.authorize(principal, name, "publish");
    } catch (error) {
      const refusal = AvisoError.from(error);
      return inputs.map(() => refusal);
    }
    const charged: Input[] = [];
    const chargedAt: number[] = [];
    inputs.forEach((input, i) => {
      try {
        this.quotas.takePublishTokens(principal.username, 1);
        charged.push(input);
        chargedAt.push(i);
      } catch (error) {
        answers[i] = AvisoError.from(error);
      }
    });
    if (charged.length === 0) return answers;
    try {
      const results = await send(charged);
      chargedAt.forEach((at, j) => {
        answers[at] =
          results[j] ?? new AvisoError("INTERNAL", "The serving node answered fewer results than messages.");
      });
      this.countPublished(results.length, started);
    } catch (error) {
      const failure = AvisoError.from(error);
      for (const at of chargedAt) answers[at] = failure;
    }
    return answers;
  }

  /**
   * What every message carries, encoded and checked (payload, headers, the
   * publisher's idempotency key), written into `input`, which holds the
   * kind's own fields: one object per message, built field by field (object
   * spreads here were a few percent of a node's CPU at full speed).
   */
  protected encodeMessage<Input extends EncodedMessage>(
    principal: Principal,
    message: MessageInput,
    input: Omit<Input, keyof EncodedMessage>,
  ): Input {
    const encoded = input as Input;
    encoded.payload = encodePayload(message.payload, this.ctx.config.maxPayloadBytes);
    encoded.headers = encodeHeaders(message.headers);
    if (message.idempotencyKey !== undefined) {
      encoded.idempotencyKey = publisherIdempotencyKey(principal.username, message.idempotencyKey);
    }
    return encoded;
  }
}
