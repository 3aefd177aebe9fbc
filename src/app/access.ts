import type { Grant, Permission, ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { Principal } from "./context.ts";

interface Guarded {
  definition: { name: string; creator: string; private: boolean };
  grants: readonly Grant[];
}

/** Who asks, as the access rules see it: a user, narrowed by an API key's scope when a key proved it (S14). */
export type Actor = Pick<Principal, "username" | "apiKey">;

/**
 * S7: the one answer for "no such resource" and "not yours to see" — same
 * reason, same message — so a refusal never tells whether a private name exists.
 */
export function resourceNotFound(kind: ResourceKind, name: string): AvisoError {
  return new AvisoError(notFoundReason(kind), `No ${kind} is named "${name}".`);
}

/** What a missing (or hidden) queue or topic answers with. */
export function notFoundReason(kind: ResourceKind): "QUEUE_NOT_FOUND" | "TOPIC_NOT_FOUND" {
  return kind === "queue" ? "QUEUE_NOT_FOUND" : "TOPIC_NOT_FOUND";
}

/**
 * S1, for a user: public resources are open to every authenticated user;
 * private ones to the creator and grantees. What runs on a user's behalf (access
 * watches, binding readers) asks this; requests ask actorMayUse.
 */
export function mayUse(username: string, resource: Guarded, permission: Permission): boolean {
  const { definition } = resource;
  if (!definition.private || definition.creator === username) return true;
  return resource.grants.some(
    (grant) => grant.username === username && grant.permissions.includes(permission),
  );
}

/** An unscoped key (or no key) allows everything; a scope allows only the permissions it lists on its resources. */
function scopeAllows(actor: Actor, kind: ResourceKind, name: string, permission: Permission): boolean {
  const scope = actor.apiKey?.scope;
  if (scope === undefined || scope === null) return true;
  return scope.some(
    (entry) => entry.kind === kind && entry.resource === name && entry.permissions.includes(permission),
  );
}

/** S1, narrowed by S14: what the user may do AND what the key's scope allows. */
export function actorMayUse(
  actor: Actor,
  kind: ResourceKind,
  resource: Guarded,
  permission: Permission,
): boolean {
  return (
    mayUse(actor.username, resource, permission) &&
    scopeAllows(actor, kind, resource.definition.name, permission)
  );
}

/**
 * Whether a user may know the resource exists: public, created by them, or
 * granted to them. A key's scope does not hide what its user may see: it
 * narrows what the key may do (OUT_OF_SCOPE), and listings (mayList).
 */
export function maySee(username: string, resource: Guarded): boolean {
  const { definition } = resource;
  if (!definition.private || definition.creator === username) return true;
  return resource.grants.some((grant) => grant.username === username && grant.permissions.length > 0);
}

/** Refuses, as if it did not exist, a resource the user may not see (S7). */
export function assertMaySee(actor: Actor, kind: ResourceKind, resource: Guarded): void {
  if (!maySee(actor.username, resource)) throw resourceNotFound(kind, resource.definition.name);
}

/**
 * Not found when the user may not see it; 403 ACCESS_DENIED, naming nobody,
 * when they lack the permission; 403 OUT_OF_SCOPE when the key's scope does.
 */
export function assertMayUse(
  actor: Actor,
  kind: ResourceKind,
  resource: Guarded,
  permission: Permission,
): void {
  assertMaySee(actor, kind, resource);
  if (!mayUse(actor.username, resource, permission)) {
    throw new AvisoError(
      "ACCESS_DENIED",
      `${kind === "queue" ? "Queue" : "Topic"} "${resource.definition.name}" is private and you hold no ${permission} grant on it.`,
    );
  }
  if (!scopeAllows(actor, kind, resource.definition.name, permission)) {
    throw new AvisoError(
      "OUT_OF_SCOPE",
      `This API key may not ${permission} on ${kind} "${resource.definition.name}".`,
    );
  }
}

/**
 * Only the creator deletes a resource or grants access to it, and never
 * through a scoped key; others who may see it learn no creator's name.
 */
export function assertCreator(actor: Actor, kind: ResourceKind, resource: Guarded, action: string): void {
  assertMaySee(actor, kind, resource);
  if (resource.definition.creator !== actor.username) {
    throw new AvisoError(
      "NOT_RESOURCE_OWNER",
      `Only the creator of ${kind} "${resource.definition.name}" may ${action} it.`,
    );
  }
  assertUnscoped(actor, `${action} resources`);
}

/** A scoped key only publishes, consumes and reads what its scope names: creating and managing need more. */
export function assertUnscoped(actor: Actor, action: string): void {
  if (actor.apiKey?.scope !== undefined && actor.apiKey.scope !== null) {
    throw new AvisoError("OUT_OF_SCOPE", `A scoped API key may not ${action}.`);
  }
}

/** Managing API keys and users needs a login token: a leaked key cannot mint more keys (S14). */
export function assertNotApiKey(actor: Actor, action: string): void {
  if (actor.apiKey !== undefined) {
    throw new AvisoError("API_KEY_NOT_ALLOWED", `An API key may not ${action}; use a login token.`);
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
    queue.definition.creator,
    ...queue.grants.filter((grant) => grant.permissions.includes("consume")).map((grant) => grant.username),
  ];
  const exposed = !queue.definition.private || readers.some((reader) => !mayUse(reader, topic, "consume"));
  if (!exposed) return undefined;
  return new AvisoError(
    "BINDING_WOULD_EXPOSE",
    `Queue "${queue.definition.name}" would let users who may not read topic "${topic.definition.name}" read its copies.`,
  );
}

/** Whether a listing shows the resource: the user may see it and, for a scoped key, the scope names it. */
export function mayList(actor: Actor, kind: ResourceKind, resource: Guarded): boolean {
  if (!maySee(actor.username, resource)) return false;
  const scope = actor.apiKey?.scope;
  if (scope === undefined || scope === null) return true;
  return scope.some((entry) => entry.kind === kind && entry.resource === resource.definition.name);
}

/** Creators are shown to themselves and to operators only (S7). */
export function mayKnowCreator(principal: Principal, creator: string): boolean {
  return principal.operator || principal.username === creator;
}

/** A view whose `creator` is left out for callers who may not know the creator. */
export type Visible<T extends { creator: string }> = Omit<T, "creator"> & { creator?: string };

/** A definition as the caller may see it: without `creator` unless they may know the creator. */
export function withoutHiddenCreator<T extends { creator: string }>(
  principal: Principal,
  view: T,
): Visible<T> {
  if (mayKnowCreator(principal, view.creator)) return view;
  const { creator: _creator, ...rest } = view;
  return rest;
}
