import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isOperator } from "../../src/app/users.ts";
import { clientEnvNames } from "../../src/config/client-env.ts";
import { ConfigError } from "../../src/config/config-error.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { configKeys, envNameOf, flagNameOf } from "../../src/config/schema.ts";
import { resolveTokenSecret } from "../../src/config/token-secret.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "aviso-config-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

/** Runs loadConfig expecting it to fail and returns the problems it listed. */
function problemsOf(input: Parameters<typeof loadConfig>[0]): readonly string[] {
  try {
    loadConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("loadConfig accepted the input");
}

const secret32 = "s".repeat(32);

describe("config schema", () => {
  it("derives env names and flags from camelCase keys", () => {
    expect(envNameOf("maxPayloadBytes")).toBe("AVISO_MAX_PAYLOAD_BYTES");
    expect(flagNameOf("maxPayloadBytes")).toBe("--max-payload-bytes");
    expect(envNameOf("zk")).toBe("AVISO_ZK");
  });

  it("describes every key for the docs", () => {
    expect(configKeys.map((info) => info.key).sort()).toEqual(
      [
        "host",
        "port",
        "corsOrigin",
        "slowConsumerStallMs",
        "dataDir",
        "store",
        "tokenSecret",
        "tokenTtlMs",
        "tlsCert",
        "tlsKey",
        "allowPlaintextBind",
        "logLevel",
        "production",
        "bcryptCost",
        "minPasswordLength",
        "loginMaxFailures",
        "loginWindowMs",
        "registration",
        "registrationsPerAddressPerHour",
        "operators",
        "jwtIssuer",
        "jwtAudience",
        "jwtJwks",
        "jwtJwksRefreshMs",
        "jwtUsernameClaim",
        "jwtUserPrefix",
        "apiKeyCacheMs",
        "metricsToken",
        "metricsResourceLabels",
        "maxPayloadBytes",
        "maxBodyBytes",
        "maxFrameBytes",
        "maxBatchMessages",
        "maxNameLength",
        "maxSubscriptionsPerSocket",
        "maxConnections",
        "maxUnauthenticatedConnections",
        "maxQueuesPerUser",
        "maxTopicsPerUser",
        "maxGrantsPerResource",
        "maxConnectionsPerUser",
        "maxStoredBytesPerUser",
        "publishRatePerUser",
        "publishBurstPerUser",
        "maxResponseBytes",
        "wsAuthTimeoutMs",
        "wsIdleTimeoutSec",
        "slowConsumerBufferBytes",
        "maxReceiveWaitMs",
        "maxReceiveMessages",
        "maxListItems",
        "accessRecheckMs",
        "maxPrefetch",
        "defaultAckTimeoutMs",
        "idempotencyWindowMs",
        "topicDefaultMaxAgeMs",
        "topicDefaultMaxMessages",
        "shutdownTimeoutMs",
        "zk",
        "zkSessionTimeoutMs",
        "nodeId",
        "peerPort",
        "advertiseHost",
        "clusterSecret",
        "peerTlsCa",
        "peerTlsCert",
        "peerTlsKey",
        "zkAuth",
        "sqliteBusyTimeoutMs",
        "sqliteCommitThread",
        "storeBatchMaxMessages",
        "storeCommitLanes",
        "storeCommitPipeline",
        "storeIdleTransactionTimeoutSec",
        "storePreparedInserts",
        "storeCommitThread",
        "storeQueryTimeoutMs",
        "storeFailoverProbeTimeoutMs",
        "storeFailoverMinRetryMs",
        "storeFailoverMaxRetryMs",
        "userCacheMs",
        "passwordThreads",
        "idempotencyPurgeMs",
        "catalogCacheMs",
        "queueMemoryBytes",
        "queueMemoryFloorBytes",
        "topicMemoryMessages",
        "topicMemoryBytes",
        "topicRetentionIntervalMs",
        "peerFeedMaxQueuedEvents",
        "peerProbeIntervalMs",
        "peerProbeTimeoutMs",
      ].sort(),
    );
    for (const info of configKeys) expect(info.description.length, info.key).toBeGreaterThan(10);
    expect(configKeys.find((info) => info.key === "wsAuthTimeoutMs")).toMatchObject({
      env: "AVISO_WS_AUTH_TIMEOUT_MS",
      flag: "--ws-auth-timeout-ms",
      default: 5000,
      kind: "integer",
    });
    expect(configKeys.find((info) => info.key === "tokenSecret")?.default).toBeUndefined();
    expect(configKeys.find((info) => info.key === "maxListItems")).toMatchObject({
      env: "AVISO_MAX_LIST_ITEMS",
      default: 100,
      kind: "integer",
    });
  });
});

describe("loadConfig", () => {
  it("returns the documented defaults with no input", () => {
    const config = loadConfig({ argv: [], env: {} });
    expect(config.host).toBe("127.0.0.1");
    expect(config.port).toBe(8080);
    expect(config.store).toBe("sqlite:");
    expect(config.logLevel).toBe("info");
    expect(config.maxPayloadBytes).toBe(1_048_576);
    expect(config.tokenSecret).toBeUndefined();
    expect(config.allowPlaintextBind).toBe(false);
  });

  it("applies defaults < file < env < flags", () => {
    const file = writeJson("aviso.json", {
      port: 1001,
      maxNameLength: 50,
      logLevel: "warn",
      wsAuthTimeoutMs: 7000,
    });
    const config = loadConfig({
      argv: ["--config", file, "--port", "1003"],
      env: { AVISO_PORT: "1002", AVISO_MAX_NAME_LENGTH: "60", AVISO_UNRELATED: undefined, PATH: "/bin" },
    });
    expect(config.port).toBe(1003); // flag beats env and file
    expect(config.maxNameLength).toBe(60); // env beats file
    expect(config.logLevel).toBe("warn"); // file beats default
    expect(config.wsAuthTimeoutMs).toBe(7000);
    expect(config.maxFrameBytes).toBe(2_097_152); // default
  });

  it("finds the file through AVISO_CONFIG and lets --config override it", () => {
    const viaEnv = writeJson("env.json", { port: 2001 });
    const viaFlag = writeJson("flag.json", { port: 2002 });
    expect(loadConfig({ argv: [], env: { AVISO_CONFIG: viaEnv } }).port).toBe(2001);
    expect(loadConfig({ argv: [`--config=${viaFlag}`], env: { AVISO_CONFIG: viaEnv } }).port).toBe(2002);
  });

  it("converts strings to numbers and booleans, in both flag forms", () => {
    const config = loadConfig({
      argv: ["--bcrypt-cost=12", "--production", "--log-level", "debug", "--allow-plaintext-bind", "0"],
      env: { AVISO_LOGIN_MAX_FAILURES: "3", AVISO_PRODUCTION: "false" },
    });
    expect(config.bcryptCost).toBe(12);
    expect(config.production).toBe(true); // bare boolean flag, beats env "false"
    expect(config.logLevel).toBe("debug");
    expect(config.allowPlaintextBind).toBe(false);
    expect(config.loginMaxFailures).toBe(3);
  });

  it("treats an empty env var as unset", () => {
    expect(loadConfig({ argv: [], env: { AVISO_PORT: "" } }).port).toBe(8080);
  });

  it("reports three bad values in one error that lists all three", () => {
    let caught: unknown;
    try {
      loadConfig({ argv: ["--port", "70000"], env: { AVISO_BCRYPT_COST: "3", AVISO_LOG_LEVEL: "loud" } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.problems).toHaveLength(3);
    expect(error.message).toContain("3 problems");
    expect(error.message).toMatch(/--port "70000".*65535/);
    expect(error.message).toMatch(/AVISO_BCRYPT_COST="3"/);
    expect(error.message).toMatch(/AVISO_LOG_LEVEL="loud": expected one of fatal, error, warn, info/);
  });

  it("reports text that is not a number or boolean instead of ignoring it", () => {
    const problems = problemsOf({ argv: ["--port", "eighty"], env: { AVISO_PRODUCTION: "yes" } });
    expect(problems).toEqual([
      '--port "eighty": expected an integer',
      'AVISO_PRODUCTION="yes": expected true, false, 1 or 0',
    ]);
  });

  it("reports unknown env vars, flags and file keys, suggesting the near miss", () => {
    const file = writeJson("typo.json", { maxPayloadByte: 5, $schema: "ignored" });
    const problems = problemsOf({
      argv: ["--config", file, "--prot", "8081", "stray"],
      env: { AVISO_MAX_CONECTIONS: "5", HOME: "/root" },
    });
    expect(problems).toHaveLength(4);
    expect(problems).toContain("unknown flag --prot (did you mean --port?)");
    expect(problems).toContain('unexpected argument "stray" (flags look like --port 8080 or --port=8080)');
    expect(problems).toContain(
      "unknown environment variable AVISO_MAX_CONECTIONS (did you mean AVISO_MAX_CONNECTIONS?)",
    );
    expect(
      problems.some((problem) =>
        problem.includes('unknown key "maxPayloadByte" (did you mean maxPayloadBytes?)'),
      ),
    ).toBe(true);
  });

  it("ignores the AVISO_* variables clients and tools use, and still names a near miss of one", () => {
    const clientEnv = Object.fromEntries(Object.keys(clientEnvNames).map((name) => [name, "client value"]));
    expect(Object.keys(clientEnv)).toContain("AVISO_PASSWORD");
    expect(loadConfig({ argv: [], env: { ...clientEnv, AVISO_PORT: "1004" } }).port).toBe(1004);
    expect(problemsOf({ argv: [], env: { AVISO_PASWORD: "x" } })).toEqual([
      "unknown environment variable AVISO_PASWORD (did you mean AVISO_PASSWORD?)",
    ]);
  });

  it("keeps client variable names apart from node settings", () => {
    const settings = new Set(configKeys.map((info) => info.env));
    expect(
      Object.keys(clientEnvNames).filter((name) => settings.has(name) || name === "AVISO_CONFIG"),
    ).toEqual([]);
  });

  it("reports a missing or malformed config file and a flag without a value", () => {
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ not json");
    expect(problemsOf({ argv: ["--config", join(dir, "absent.json")], env: {} })).toEqual([
      `config file "${join(dir, "absent.json")}": file not found`,
    ]);
    expect(problemsOf({ argv: ["--config", broken], env: {} })[0]).toMatch(/broken\.json.*JSON/);
    expect(problemsOf({ argv: ["--host"], env: {} })).toEqual(["--host needs a value"]);
  });

  it("checks file values' types without converting them", () => {
    const file = writeJson("types.json", { port: "8080", production: "true" });
    const problems = problemsOf({ argv: [], env: { AVISO_CONFIG: file } });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('"port": "8080" in config file');
  });

  it("never echoes secrets in problems", () => {
    const problems = problemsOf({
      argv: ["--token-secret", "short-but-secret"],
      env: { AVISO_STORE: "postgres://app:hunter2@db/aviso" },
    });
    expect(problems).toHaveLength(2);
    const text = problems.join("\n");
    expect(text).not.toContain("short-but-secret");
    expect(text).not.toContain("hunter2");
    expect(text).toContain("<secret, 16 chars>");
  });

  describe("cross-field rules", () => {
    it("wants tlsCert and tlsKey together, and existing files", () => {
      const cert = join(dir, "cert.pem");
      writeFileSync(cert, "pem");
      expect(problemsOf({ argv: ["--tls-cert", cert], env: {} })).toEqual([
        "tlsCert and tlsKey must be set together (AVISO_TLS_CERT / AVISO_TLS_KEY), or neither",
      ]);
      const missing = join(dir, "missing.pem");
      expect(problemsOf({ argv: ["--tls-cert", cert, "--tls-key", missing], env: {} })).toEqual([
        `tlsKey: file "${missing}" does not exist or is not a file`,
      ]);
      const key = join(dir, "key.pem");
      writeFileSync(key, "pem");
      expect(loadConfig({ argv: ["--tls-cert", cert, "--tls-key", key], env: {} }).tlsKey).toBe(key);
    });

    it("wants peerTlsCa, peerTlsCert and peerTlsKey all together, and existing files", () => {
      const ca = join(dir, "peer-ca.pem");
      const cert = join(dir, "peer-cert.pem");
      writeFileSync(ca, "pem");
      writeFileSync(cert, "pem");
      const together =
        "peerTlsCa, peerTlsCert and peerTlsKey must be set together " +
        "(AVISO_PEER_TLS_CA / AVISO_PEER_TLS_CERT / AVISO_PEER_TLS_KEY), or none";
      expect(problemsOf({ argv: ["--peer-tls-ca", ca], env: {} })).toEqual([together]);
      expect(problemsOf({ argv: ["--peer-tls-ca", ca, "--peer-tls-cert", cert], env: {} })).toEqual([
        together,
      ]);
      const missing = join(dir, "missing-peer.key");
      expect(
        problemsOf({
          argv: [],
          env: { AVISO_PEER_TLS_CA: ca, AVISO_PEER_TLS_CERT: cert, AVISO_PEER_TLS_KEY: missing },
        }),
      ).toEqual([`peerTlsKey: file "${missing}" does not exist or is not a file`]);
      const key = join(dir, "peer.key");
      writeFileSync(key, "pem");
      const config = loadConfig({
        argv: ["--peer-tls-ca", ca, "--peer-tls-cert", cert, "--peer-tls-key", key],
        env: {},
      });
      expect([config.peerTlsCa, config.peerTlsCert, config.peerTlsKey]).toEqual([ca, cert, key]);
    });

    it("takes zkAuth as user:password pairs and never repeats it in a problem", () => {
      expect(loadConfig({ argv: [], env: { AVISO_ZK_AUTH: "aviso:pw1,aviso:pw2" } }).zkAuth).toBe(
        "aviso:pw1,aviso:pw2",
      );
      for (const bad of ["no-colon-secret", "aviso:", ":pw", "aviso:pw,", "aviso:has space"]) {
        const problems = problemsOf({ argv: [], env: { AVISO_ZK_AUTH: bad } });
        expect(problems, bad).toHaveLength(1);
        expect(problems[0], bad).toContain("AVISO_ZK_AUTH=<secret");
        if (bad.length > 6) expect(problems[0], bad).not.toContain(bad);
      }
    });

    it("refuses a non-loopback plaintext bind unless opted in", () => {
      const problems = problemsOf({ argv: ["--host", "0.0.0.0"], env: {} });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain("allowPlaintextBind");
      expect(loadConfig({ argv: ["--host", "0.0.0.0", "--allow-plaintext-bind"], env: {} }).host).toBe(
        "0.0.0.0",
      );
      expect(loadConfig({ argv: ["--host", "::1"], env: {} }).host).toBe("::1");
      expect(loadConfig({ argv: ["--host", "localhost"], env: {} }).host).toBe("localhost");
    });

    it("requires mysql, clusterSecret and tokenSecret in cluster mode", () => {
      const problems = problemsOf({ argv: [], env: { AVISO_ZK: "127.0.0.1:2181/aviso" } });
      expect(problems).toEqual([
        "zk is set (cluster mode) so store must be a mysql:// URL",
        "zk is set (cluster mode) so clusterSecret is required",
        "zk is set (cluster mode) so tokenSecret is required: every node must verify the others' tokens",
      ]);
      const config = loadConfig({
        argv: [],
        env: {
          AVISO_ZK: "zk1:2181,zk2:2181/aviso",
          AVISO_STORE: "mysql://aviso:pw@127.0.0.1:3306/aviso",
          AVISO_CLUSTER_SECRET: secret32,
          AVISO_TOKEN_SECRET: secret32,
        },
      });
      expect(config.zk).toBe("zk1:2181,zk2:2181/aviso");
    });

    it("keeps the payload limit within the body, frame and slow-consumer limits", () => {
      const problems = problemsOf({ argv: ["--max-payload-bytes", "3000000"], env: {} });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain("maxFrameBytes");
    });

    it("are listed together with value problems", () => {
      const problems = problemsOf({
        argv: ["--host", "10.0.0.1", "--port", "-1"],
        env: { AVISO_ZK: "zk:2181" },
      });
      expect(problems).toHaveLength(5);
    });
  });

  it("returns a frozen object", () => {
    const config = loadConfig({ argv: [], env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe("resolveTokenSecret", () => {
  it("uses tokenSecret when configured", async () => {
    const secret = await resolveTokenSecret({ tokenSecret: secret32, dataDir: dir });
    expect(new TextDecoder().decode(secret)).toBe(secret32);
  });

  it("creates <dataDir>/token-secret once (0600) and reuses it", async () => {
    const dataDir = join(dir, "data");
    const first = await resolveTokenSecret({ tokenSecret: undefined, dataDir });
    const second = await resolveTokenSecret({ tokenSecret: undefined, dataDir });
    const path = join(dataDir, "token-secret");
    expect(first).toEqual(second);
    expect(first.byteLength).toBe(64); // 32 random bytes as hex
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await readFile(path, "utf8")).trim()).toBe(new TextDecoder().decode(first));
  });

  it("gives every racing caller the same secret, and tells only the one that created the file", async () => {
    const created: string[] = [];
    const secrets = await Promise.all(
      Array.from({ length: 5 }, () =>
        resolveTokenSecret({ tokenSecret: undefined, dataDir: dir }, (path) => created.push(path)),
      ),
    );
    for (const secret of secrets) expect(secret).toEqual(secrets[0]);
    expect(created).toEqual([join(dir, "token-secret")]);
    await resolveTokenSecret({ tokenSecret: undefined, dataDir: dir }, (path) => created.push(path));
    expect(created).toHaveLength(1);
  });

  it("refuses a truncated secret file", async () => {
    writeFileSync(join(dir, "token-secret"), "abc\n");
    await expect(resolveTokenSecret({ tokenSecret: undefined, dataDir: dir })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it("needs jwtIssuer, jwtAudience and jwtJwks together, and a JWKS over https or on loopback (S14)", () => {
    expect(problemsOf({ argv: [], env: { AVISO_JWT_ISSUER: "https://id.example" } })).toEqual([
      "jwtIssuer, jwtAudience and jwtJwks must be set together (AVISO_JWT_ISSUER / AVISO_JWT_AUDIENCE / AVISO_JWT_JWKS), or none",
    ]);
    const external = { AVISO_JWT_ISSUER: "https://id.example", AVISO_JWT_AUDIENCE: "aviso" };
    expect(
      problemsOf({ argv: [], env: { ...external, AVISO_JWT_JWKS: "http://id.example/jwks.json" } }),
    ).toEqual([
      'jwtJwks "http://id.example/jwks.json": fetch keys over https:// (plain http:// only from a loopback host), or anyone on the path can swap them',
    ]);
    expect(problemsOf({ argv: [], env: { ...external, AVISO_JWT_JWKS: "/nonexistent/jwks.json" } })).toEqual([
      'jwtJwks: file "/nonexistent/jwks.json" does not exist or is not a file',
    ]);
    expect(
      problemsOf({
        argv: [],
        env: { ...external, AVISO_JWT_ISSUER: "aviso", AVISO_JWT_JWKS: "https://id.example/jwks" },
      }),
    ).toEqual(['jwtIssuer must not be "aviso": that issuer names Aviso\'s own login tokens']);
    expect(problemsOf({ argv: [], env: { AVISO_JWT_USER_PREFIX: "ext-" } })[0]).toContain(
      "AVISO_JWT_USER_PREFIX",
    );
    const config = loadConfig({
      argv: [],
      env: { ...external, AVISO_JWT_JWKS: "http://127.0.0.1:9/jwks.json" },
    });
    expect(config).toMatchObject({
      jwtUsernameClaim: "sub",
      jwtUserPrefix: "ext:",
      jwtJwksRefreshMs: 30_000,
    });
  });

  it("names operators by a comma-separated list", () => {
    expect(isOperator({ operators: "alice,ops-bot" }, "ops-bot")).toBe(true);
    expect(isOperator({ operators: "alice,ops-bot" }, "ops")).toBe(false);
    expect(isOperator({ operators: "" }, "")).toBe(false);
  });
});
