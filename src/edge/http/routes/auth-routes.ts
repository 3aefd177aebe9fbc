import type { Services } from "../../../app/services.ts";
import { anyone, anyUser, operatorOnly } from "../../access-spec.ts";
import { CredentialsBody, MeView, NameParams, RegisteredView, TokenView } from "../../schemas.ts";
import { type AnyRoute, AUTH_ERRORS, defineRoute } from "../route.ts";

const NEW_USER_ERRORS = [
  "VALIDATION_FAILED",
  "INVALID_NAME",
  "WEAK_PASSWORD",
  "PASSWORD_TOO_LONG",
  "USERNAME_TAKEN",
] as const;

export function authRoutes(services: Services): AnyRoute[] {
  const { users } = services;
  return [
    defineRoute({
      method: "post",
      path: "/v1/auth/register",
      operationId: "register",
      summary: "Create a user (unless registration is closed; limited per address).",
      tag: "auth",
      auth: false,
      access: anyone,
      body: CredentialsBody,
      responses: { 201: { description: "Registered.", schema: RegisteredView } },
      errors: [...NEW_USER_ERRORS, "REGISTRATION_CLOSED", "REGISTRATION_RATE_LIMITED"],
      handle: async ({ body, ip }) => ({ status: 201, body: await users.register(body, ip) }),
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
      handle: async ({ body, ip }) => ({ status: 200, body: await users.login(body, ip) }),
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
      errors: [...AUTH_ERRORS],
      handle: async ({ principal }) => ({ status: 200, body: principal }),
    }),
    defineRoute({
      method: "delete",
      path: "/v1/me",
      operationId: "deleteMe",
      summary: "Delete the caller: every token is revoked, grants held go, created resources stay.",
      tag: "auth",
      auth: true,
      access: anyUser,
      responses: { 204: { description: "Deleted." } },
      errors: [...AUTH_ERRORS],
      handle: async ({ principal }) => {
        await users.deleteSelf(principal);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/me/logout-all",
      operationId: "logoutAll",
      summary: "Revoke every token of the caller (live WebSockets close with 4003).",
      tag: "auth",
      auth: true,
      access: anyUser,
      responses: { 204: { description: "Every token revoked." } },
      errors: [...AUTH_ERRORS],
      handle: async ({ principal }) => {
        await users.logoutAll(principal);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: "post",
      path: "/v1/users",
      operationId: "createUser",
      summary: "Create a user (operators only; works when registration is closed).",
      tag: "auth",
      auth: true,
      access: operatorOnly,
      body: CredentialsBody,
      responses: { 201: { description: "Created.", schema: RegisteredView } },
      errors: [...AUTH_ERRORS, "OPERATOR_REQUIRED", ...NEW_USER_ERRORS],
      handle: async ({ principal, body }) => ({
        status: 201,
        body: await users.createByOperator(principal, body),
      }),
    }),
    defineRoute({
      method: "post",
      path: "/v1/users/{name}/logout-all",
      operationId: "logoutUser",
      summary: "Revoke every token of a user (operators only; live WebSockets close with 4003).",
      tag: "auth",
      auth: true,
      access: operatorOnly,
      params: NameParams,
      responses: { 204: { description: "Every token of the user revoked." } },
      errors: [...AUTH_ERRORS, "OPERATOR_REQUIRED", "USER_NOT_FOUND"],
      handle: async ({ principal, params }) => {
        await users.logoutAllByOperator(principal, params.name);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: "delete",
      path: "/v1/users/{name}",
      operationId: "deleteUser",
      summary:
        "Delete a user (operators only): their tokens are revoked, grants held go, created resources stay.",
      tag: "auth",
      auth: true,
      access: operatorOnly,
      params: NameParams,
      responses: { 204: { description: "Deleted." } },
      errors: [...AUTH_ERRORS, "OPERATOR_REQUIRED", "USER_NOT_FOUND"],
      handle: async ({ principal, params }) => {
        await users.deleteByOperator(principal, params.name);
        return { status: 204 };
      },
    }),
  ];
}
