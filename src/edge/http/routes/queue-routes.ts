import type { Services } from "../../../app/services.ts";
import { anyUser, onResource } from "../../access-spec.ts";
import {
  AckBody,
  AckView,
  CreateQueueBody,
  IdsView,
  NackBody,
  NameParams,
  QueueListView,
  QueuePublishBody,
  QueueViewSchema,
  ReceiveBody,
  ReceiveView,
} from "../../schemas.ts";
import { deliveryJson, jsonArray } from "../../wire.ts";
import { type AnyRoute, AUTH_ERRORS, defineRoute } from "../route.ts";
import { grantRoutes, resourceRoutes, useErrors, withOwnerAlias } from "./resource-routes.ts";

const USE_ERRORS = useErrors("queue");

export function queueRoutes(services: Services): AnyRoute[] {
  const { queues, grants } = services;
  return [
    defineRoute({
      method: "post",
      path: "/v1/queues",
      operationId: "createQueue",
      summary: "Create a queue; the caller is its creator.",
      tag: "queues",
      auth: true,
      access: anyUser,
      body: CreateQueueBody,
      responses: { 201: { description: "Created.", schema: QueueViewSchema } },
      errors: [
        ...AUTH_ERRORS,
        "VALIDATION_FAILED",
        "INVALID_NAME",
        "QUEUE_EXISTS",
        "INVALID_DEAD_LETTER_QUEUE",
        "ACCESS_DENIED",
        "QUOTA_EXCEEDED",
      ],
      handle: async ({ principal, body }) => ({
        status: 201,
        body: withOwnerAlias(await queues.create(principal, body)),
      }),
    }),
    ...resourceRoutes("queue", queues, {
      listSummary: "Queues the caller may use, with depth, in-flight and consumer counts.",
      deleteSummary: "Delete a queue and its messages (creator only).",
      viewSchema: QueueViewSchema,
      listSchema: QueueListView,
    }),
    defineRoute({
      method: "post",
      path: "/v1/queues/{name}/messages",
      operationId: "publishToQueue",
      summary: "Publish one message or a batch; answered after the commit.",
      tag: "queues",
      auth: true,
      access: onResource("queue", "publish"),
      params: NameParams,
      body: QueuePublishBody,
      responses: { 201: { description: "Committed.", schema: IdsView } },
      errors: [
        ...USE_ERRORS,
        "PAYLOAD_TOO_LARGE",
        "RESERVED_HEADER",
        "TOO_MANY_MESSAGES",
        "BODY_TOO_LARGE",
        "QUEUE_FULL",
        "STORED_BYTES_EXCEEDED",
        "PUBLISH_RATE_LIMITED",
      ],
      handle: async ({ principal, params, body }) => {
        const messages = "messages" in body ? body.messages : [body];
        return { status: 201, body: { ids: await queues.publish(principal, params.name, messages) } };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/queues/{name}/receive",
      operationId: "receiveFromQueue",
      summary: "Lease up to `max` messages, long-polling up to `waitMs` for the first.",
      tag: "queues",
      auth: true,
      access: onResource("queue", "consume"),
      params: NameParams,
      body: ReceiveBody,
      responses: { 200: { description: "Leased messages (maybe none).", schema: ReceiveView } },
      errors: [...USE_ERRORS],
      handle: async ({ principal, params, body, signal }) => {
        const deliveries = await queues.receive(principal, params.name, body, signal);
        return { status: 200, json: `{"messages":${jsonArray(deliveries.map(deliveryJson))}}` };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/queues/{name}/ack",
      operationId: "ackQueueMessages",
      summary: "Acknowledge deliveries by receipt; they are deleted.",
      tag: "queues",
      auth: true,
      access: onResource("queue", "consume"),
      params: NameParams,
      body: AckBody,
      responses: { 200: { description: "Acked.", schema: AckView } },
      errors: [...USE_ERRORS, "INVALID_RECEIPT"],
      handle: async ({ principal, params, body }) => ({
        status: 200,
        body: await queues.ack(principal, params.name, body.receipts),
      }),
    }),
    defineRoute({
      method: "post",
      path: "/v1/queues/{name}/nack",
      operationId: "nackQueueMessages",
      summary: "Return deliveries to the queue, optionally after `delayMs`.",
      tag: "queues",
      auth: true,
      access: onResource("queue", "consume"),
      params: NameParams,
      body: NackBody,
      responses: { 200: { description: "Returned.", schema: AckView } },
      errors: [...USE_ERRORS, "INVALID_RECEIPT"],
      handle: async ({ principal, params, body }) => ({
        status: 200,
        body: await queues.nack(principal, params.name, body.receipts, body.delayMs ?? 0),
      }),
    }),
    ...grantRoutes("queue", grants),
  ];
}
