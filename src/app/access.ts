import type { Grant, Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Principal } from "./context.ts";

interface Guarded {
  definition: { name: string; owner: string; private: boolean };
  grants: readonly Grant[];
}

/**
 * S7: the one answer for "no such resource" and "not yours to see" — same
 * reason, same message — so a refusal never tells whether a private name exists.
 */
export function resourceNotFound(kind: ResourceKind, name: string): AvisoError {
  return kind === "queue"
    ? new AvisoError("QUEUE_NOT_FOUND", `No queue is named "${name}".`)
    : new AvisoError("TOPIC_NOT_FOUND", `No topic is named "${name}".`);
}

/** Public resources are open to every authenticated user; private ones to the owner and grantees. */
export function mayUse(username: string, resource: Guarded, permission: Permission): boolean {
  const { definition } = resource;
  if (!definition.private || definition.owner === username) return true;
  return resource.grants.some(
    (grant) => grant.username === username && grant.permissions.includes(permission),
  );
}

/** Whether a user may know the resource exists: public, created by them, or granted to them. */
export function maySee(username: string, resource: Guarded): boolean {
  const { definition } = resource;
  if (!definition.private || definition.owner === username) return true;
  return resource.grants.some((grant) => grant.username === username && grant.permissions.length > 0);
}

/** Refuses, as if it did not exist, a resource the user may not see (S7). */
export function assertMaySee(username: string, kind: ResourceKind, resource: Guarded): void {
  if (!maySee(username, resource)) throw resourceNotFound(kind, resource.definition.name);
}

/** Not found when the user may not see it; 403 ACCESS_DENIED, naming nobody, when they lack the permission. */
export function assertMayUse(
  username: string,
  kind: ResourceKind,
  resource: Guarded,
  permission: Permission,
): void {
  assertMaySee(username, kind, resource);
  if (!mayUse(username, resource, permission)) {
    throw new AvisoError(
      "ACCESS_DENIED",
      `${kind === "queue" ? "Queue" : "Topic"} "${resource.definition.name}" is private and you hold no ${permission} grant on it.`,
    );
  }
}

/** Only the creator deletes a resource or grants access to it; others who may see it learn no creator's name. */
export function assertOwner(username: string, kind: ResourceKind, resource: Guarded, action: string): void {
  assertMaySee(username, kind, resource);
  if (resource.definition.owner !== username) {
    throw new AvisoError(
      "NOT_RESOURCE_OWNER",
      `Only the creator of ${kind} "${resource.definition.name}" may ${action} it.`,
    );
  }
}

/**
 * Why copying `topic` into `queue` would expose the topic (docs/security.md
 * S3), or undefined when it would not: a private topic may flow only into a
 * private queue every reader of which — its creator and each consume
 * grantee — may consume the topic.
 */
export function bindingExposure(topic: Guarded, queue: Guarded): AvisoError | undefined {
  if (!topic.definition.private) return undefined;
  const readers = [
    queue.definition.owner,
    ...queue.grants.filter((grant) => grant.permissions.includes("consume")).map((grant) => grant.username),
  ];
  const exposed = !queue.definition.private || readers.some((reader) => !mayUse(reader, topic, "consume"));
  if (!exposed) return undefined;
  return new AvisoError(
    "BINDING_WOULD_EXPOSE",
    `Queue "${queue.definition.name}" would let users who may not read topic "${topic.definition.name}" read its copies.`,
  );
}

/** Creators are shown to themselves and to operators only (S7). */
export function mayKnowCreator(principal: Principal, creator: string): boolean {
  return principal.operator || principal.username === creator;
}

/** A view whose `owner` is left out for callers who may not know the creator. */
export type Visible<T extends { owner: string }> = Omit<T, "owner"> & { owner?: string };

/** A definition as the caller may see it: without `owner` unless they may know the creator. */
export function withoutHiddenOwner<T extends { owner: string }>(principal: Principal, view: T): Visible<T> {
  if (mayKnowCreator(principal, view.owner)) return view;
  const { owner: _owner, ...rest } = view;
  return rest;
}
