import type { Grant, Permission } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";

interface Guarded {
  definition: { name: string; owner: string; private: boolean };
  grants: readonly Grant[];
}

/** Public resources are open to every authenticated user; private ones to the owner and grantees. */
export function mayUse(username: string, resource: Guarded, permission: Permission): boolean {
  const { definition } = resource;
  if (!definition.private || definition.owner === username) return true;
  return resource.grants.some(
    (grant) => grant.username === username && grant.permissions.includes(permission),
  );
}

export function assertMayUse(username: string, resource: Guarded, permission: Permission): void {
  if (!mayUse(username, resource, permission)) {
    throw new AvisoError(
      "ACCESS_DENIED",
      `"${resource.definition.name}" is private and you hold no ${permission} grant on it.`,
    );
  }
}

/** Only the creator deletes a resource or grants access to it. */
export function assertOwner(username: string, resource: Guarded, action: string): void {
  if (resource.definition.owner !== username) {
    throw new AvisoError(
      "NOT_RESOURCE_OWNER",
      `Only "${resource.definition.owner}", who created "${resource.definition.name}", may ${action} it.`,
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

/** Whether a user may see a resource in listings. */
export function mayList(username: string, resource: Guarded): boolean {
  return mayUse(username, resource, "publish") || mayUse(username, resource, "consume");
}
