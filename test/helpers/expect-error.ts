import { expect } from "vitest";
import { httpStatusOf } from "../../src/errors/http-status.ts";
import { type Reason, reasons } from "../../src/errors/reasons.ts";
import type { ApiResponse } from "./api.ts";

/**
 * Asserts a REST error answer: the status that reason's code maps to, and a
 * body of exactly `{error:{code,reason,message[,details]}}`.
 */
export function expectError(response: ApiResponse<unknown>, reason: Reason): void {
  const code = reasons[reason].code;
  const context = JSON.stringify(response.body);
  expect(response.status, context).toBe(httpStatusOf[code]);
  expect(response.headers.get("content-type"), context).toContain("application/json");
  const body = response.body as { error?: Record<string, unknown> };
  expect(Object.keys(body), context).toEqual(["error"]);
  const error = body.error as Record<string, unknown>;
  expect(error, context).toMatchObject({ code, reason, message: expect.any(String) });
  expect((error.message as string).length).toBeGreaterThan(0);
  for (const key of Object.keys(error)) expect(["code", "reason", "message", "details"]).toContain(key);
  if ("details" in error) expect(typeof error.details).toBe("object");
}
