import type { Services } from "../../../app/services.ts";
import { anyone, anyUser } from "../../access-spec.ts";
import { CredentialsBody, MeView, RegisteredView, TokenView } from "../../schemas.ts";
import { type AnyRoute, defineRoute } from "../route.ts";

export function authRoutes(services: Services): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/v1/auth/register",
      operationId: "register",
      summary: "Create a user.",
      tag: "auth",
      auth: false,
      access: anyone,
      body: CredentialsBody,
      responses: { 201: { description: "Registered.", schema: RegisteredView } },
      errors: ["VALIDATION_FAILED", "INVALID_NAME", "WEAK_PASSWORD", "PASSWORD_TOO_LONG", "USERNAME_TAKEN"],
      handle: async ({ body }) => ({ status: 201, body: await services.users.register(body) }),
    }),
    defineRoute({
      method: "post",
      path: "/v1/auth/login",
      operationId: "login",
      summary: "Exchange username and password for a bearer token.",
      tag: "auth",
      auth: false,
      access: anyone,
      body: CredentialsBody,
      responses: { 200: { description: "Logged in.", schema: TokenView } },
      errors: ["VALIDATION_FAILED", "BAD_CREDENTIALS", "LOGIN_RATE_LIMITED"],
      handle: async ({ body, ip }) => ({ status: 200, body: await services.users.login(body, ip) }),
    }),
    defineRoute({
      method: "get",
      path: "/v1/me",
      operationId: "me",
      summary: "Who the token belongs to.",
      tag: "auth",
      auth: true,
      access: anyUser,
      responses: { 200: { description: "The caller.", schema: MeView } },
      errors: ["AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED"],
      handle: async ({ principal }) => ({ status: 200, body: principal }),
    }),
  ];
}
