/** Small platform helpers shared by browser and Node.js code paths. */

/** A random RFC 4122 v4 id; `crypto.randomUUID` is missing on plain-http pages, getRandomValues is not. */
export function randomId(): string {
  const cryptoApi = globalThis.crypto;
  if (typeof cryptoApi.randomUUID === "function") return cryptoApi.randomUUID();
  const bytes = cryptoApi.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface TimerHandle {
  cancel(): void;
}

/**
 * A timer that does not keep a Node.js process alive on its own (heartbeats,
 * token refresh): an open socket or the caller's own work does that.
 */
export function backgroundTimer(delayMs: number, run: () => void): TimerHandle {
  const handle = setTimeout(run, delayMs);
  (handle as { unref?: () => void }).unref?.();
  return { cancel: () => clearTimeout(handle) };
}

/** Resolves after `delayMs`, or at once when `signal` aborts. */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(handle);
      resolve();
    };
    const handle = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
