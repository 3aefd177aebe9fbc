/**
 * @aviso/client — the Aviso SDK for Node.js and browsers. The package's
 * public surface: everything an application imports comes from here.
 */
export type { AuthApi } from "./api/auth-api.ts";
export type { QueuesApi, ReceivedMessage, ReceiveOptions } from "./api/queues-api.ts";
export {
  CORRELATION_ID_HEADER,
  REPLY_STATUS_HEADER,
  REPLY_TO_HEADER,
  type RequestOptions,
  type ServeHandler,
  type ServeOptions,
} from "./api/request-reply.ts";
export type { TopicsApi } from "./api/topics-api.ts";
export type { Credentials } from "./auth/token-keeper.ts";
export { type AvisoClient, type ClientEvents, createClient } from "./client.ts";
export {
  AvisoClientError,
  CLIENT_REASONS,
  type ClientReason,
  type ErrorCode,
  type Reason,
  SERVER_REASONS,
  type ServerReason,
} from "./errors.ts";
export {
  type ClientOptions,
  type ClientOptionsInput,
  DEFAULT_OPTIONS,
  type ReconnectOptions,
  type TokenAnswer,
} from "./options.ts";
export type { CloseReason, ConnectionStatus, DisconnectReason } from "./socket/status.ts";
export type { WebSocketConstructor, WebSocketLike } from "./socket/websocket.ts";
export type {
  QueueMessage,
  QueueSubscribeOptions,
  QueueSubscription,
  SettleOutcome,
} from "./subscriptions/queue-subscription.ts";
export type {
  RetentionGap,
  Subscription,
  SubscriptionEvents,
  SubscriptionState,
} from "./subscriptions/subscription.ts";
export type {
  StartFrom,
  TopicMessage,
  TopicSubscribeOptions,
  TopicSubscription,
} from "./subscriptions/topic-subscription.ts";
export type * from "./types.ts";
export { eachItem, type ListPage, type PageOptions } from "./util/pages.ts";
