/**
 * The AVISO_* environment variables that belong to the clients, examples,
 * benchmarks, tests and deploy files rather than to the node, with who reads
 * each. The node ignores exactly these, so a shell that exported them for
 * the CLI can still start a node, and refuses every other AVISO_* name that
 * is not one of its settings, so a typo is still caught. A test scans the
 * repository for AVISO_* names: a new client variable must be listed here.
 */
export const clientEnvNames: Readonly<Record<string, string>> = {
  AVISO_URLS: "SDK example worker (clients/js/examples/node-worker.ts): node URLs",
  AVISO_USERNAME: "SDK example worker: user to log in as",
  AVISO_PASSWORD: "CLI `aviso login` and the SDK example worker and k6 benchmarks: password",
  AVISO_QUEUE: "SDK example worker: queue to consume",
  AVISO_CLI_CONFIG: "CLI: where it keeps its servers and tokens",
  AVISO_URL: "k6 benchmarks (bench/k6): node URL",
  AVISO_USER: "k6 benchmarks: user to log in as",
  AVISO_DB_PASSWORD: "deploy/compose.yaml: MariaDB password substituted into the compose file",
  AVISO_BENCH_MYSQL_URL: "bench/store-commit.ts: MariaDB to measure",
  AVISO_FUZZ_SEED: "test/integration/fuzz.test.ts: seed",
  AVISO_FUZZ_SCALE: "test/integration/fuzz.test.ts: run multiplier",
  AVISO_TEST_TIMEOUT_MINUTES: "scripts/test.sh: wall-clock bound on all test suites together",
  AVISO_MUTATION_GROUP_MINUTES: "scripts/mutation.sh: wall-clock bound on each StrykerJS group",
};
