import uWS from "uWebSockets.js";

/**
 * The uWS package silently falls back to a slow JavaScript implementation when
 * its native binary does not load (wrong glibc or Node ABI). The fallback lacks
 * the native-only helpers, which is how we tell.
 */
export function isNativeUws(): boolean {
  return typeof (uWS as unknown as Record<string, unknown>).getParts === "function";
}
