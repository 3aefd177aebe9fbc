import type { Services } from "../../../app/services.ts";
import { anyUser, onResource } from "../../access-spec.ts";
import {
  BindBody,
  BindingCreatedView,
  BindingListView,
  CreateTopicBody,
  HistoryQuery,
  HistoryView,
  ListQuery,
  NameParams,
  OffsetsView,
  SubscriptionParams,
  TopicListView,
  TopicPublishBody,
  TopicViewSchema,
} from "../../schemas.ts";
import { jsonArray, topicMessageJson } from "../../wire.ts";
import { type AnyRoute, AUTH_ERRORS, defineRoute, pageReply } from "../route.ts";
import { grantRoutes, resourceRoutes, useErrors, withOwnerAlias } from "./resource-routes.ts";

const USE_ERRORS = useErrors("topic");

export function topicRoutes(services: Services): AnyRoute[] {
  const { topics, grants, bindings } = services;
  return [
    defineRoute({
      method: "post",
      path: "/v1/topics",
      operationId: "createTopic",
      summary: "Create a topic; the caller is its creator.",
      tag: "topics",
      auth: true,
      access: anyUser,
      body: CreateTopicBody,
      responses: { 201: { description: "Created.", schema: TopicViewSchema } },
      errors: [...AUTH_ERRORS, "VALIDATION_FAILED", "INVALID_NAME", "TOPIC_EXISTS", "QUOTA_EXCEEDED"],
      handle: async ({ principal, body }) => ({
        status: 201,
        body: withOwnerAlias(await topics.create(principal, body)),
      }),
    }),
    ...resourceRoutes("topic", topics, {
      listSummary: "Topics the caller may use, with their offsets.",
      deleteSummary: "Delete a topic, its history and its durable subscriptions (creator only).",
      viewSchema: TopicViewSchema,
      listSchema: TopicListView,
    }),
    defineRoute({
      method: "post",
      path: "/v1/topics/{name}/messages",
      operationId: "publishToTopic",
      summary: "Publish one message or a batch; answered after the commit with the offsets.",
      tag: "topics",
      auth: true,
      access: onResource("topic", "publish"),
      params: NameParams,
      body: TopicPublishBody,
      responses: { 201: { description: "Committed.", schema: OffsetsView } },
      errors: [
        ...USE_ERRORS,
        "INVALID_ROUTING_KEY",
        "PAYLOAD_TOO_LARGE",
        "RESERVED_HEADER",
        "TOO_MANY_MESSAGES",
        "BODY_TOO_LARGE",
        "PUBLISH_RATE_LIMITED",
      ],
      handle: async ({ principal, params, body }) => {
        const messages = "messages" in body ? body.messages : [body];
        return { status: 201, body: { offsets: await topics.publish(principal, params.name, messages) } };
      },
    }),
    defineRoute({
      method: "get",
      path: "/v1/topics/{name}/messages",
      operationId: "topicHistory",
      summary: "Read retained history from an offset.",
      tag: "topics",
      auth: true,
      access: onResource("topic", "consume"),
      params: NameParams,
      query: HistoryQuery,
      responses: { 200: { description: "A page of history.", schema: HistoryView } },
      errors: [...USE_ERRORS, "OFFSET_OUT_OF_RANGE"],
      handle: async ({ principal, params, query }) => {
        const page = await topics.history(principal, params.name, query.from, query.limit ?? 100);
        return {
          status: 200,
          json:
            `{"messages":${jsonArray(page.messages.map(topicMessageJson))},"complete":${page.complete}` +
            `,"firstOffset":${page.firstOffset},"nextOffset":${page.nextOffset}}`,
        };
      },
    }),
    ...grantRoutes("topic", grants),
    defineRoute({
      method: "post",
      path: "/v1/topics/{name}/subscriptions",
      operationId: "createDurableSubscription",
      summary:
        "Bind a queue (created if absent, with the caller as its creator) to the topic with a pattern.",
      tag: "subscriptions",
      auth: true,
      access: onResource("topic", "consume"),
      params: NameParams,
      body: BindBody,
      responses: { 201: { description: "Bound.", schema: BindingCreatedView } },
      errors: [
        ...USE_ERRORS,
        "INVALID_NAME",
        "INVALID_PATTERN",
        "NOT_RESOURCE_OWNER",
        "QUEUE_EXISTS",
        "SUBSCRIPTION_EXISTS",
        "BINDING_WOULD_EXPOSE",
        "QUOTA_EXCEEDED",
      ],
      handle: async ({ principal, params, body }) => {
        const { binding, queueCreated } = await bindings.bind(principal, params.name, body);
        return { status: 201, body: { ...binding, queueCreated } };
      },
    }),
    defineRoute({
      method: "get",
      path: "/v1/topics/{name}/subscriptions",
      operationId: "listDurableSubscriptions",
      summary:
        "Durable subscriptions of a topic into queues the caller may see (all of them for its creator).",
      tag: "subscriptions",
      auth: true,
      access: onResource("topic", "consume"),
      params: NameParams,
      query: ListQuery,
      responses: {
        200: { description: "One page of subscriptions, by queue name.", schema: BindingListView },
      },
      errors: [...USE_ERRORS],
      handle: async ({ principal, params, query }) =>
        pageReply("subscriptions", await bindings.list(principal, params.name, query)),
    }),
    defineRoute({
      method: "delete",
      path: "/v1/topics/{name}/subscriptions/{queue}",
      operationId: "deleteDurableSubscription",
      summary: "Unbind a queue from the topic (queue or topic creator); the queue stays.",
      tag: "subscriptions",
      auth: true,
      access: onResource("topic", "creator"),
      params: SubscriptionParams,
      responses: { 204: { description: "Unbound." } },
      errors: [...AUTH_ERRORS, "TOPIC_NOT_FOUND", "SUBSCRIPTION_NOT_FOUND", "NOT_RESOURCE_OWNER"],
      handle: async ({ principal, params }) => {
        await bindings.unbind(principal, params.name, params.queue);
        return { status: 204 };
      },
    }),
  ];
}
