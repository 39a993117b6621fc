// `npm test`: one `serve` for the whole run (its first start is the slow part), then Node's
// test runner over every test file, which finds the service through the environment. A
// test file run alone (`node --test test/client.test.js`) starts a service of its own.

import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServe } from "./support/serve.js";

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((name) => name.endsWith(".test.js"))
  .sort()
  .map((name) => join(here, name));

const started = Date.now();
const server = await startServe();
console.log(`serve answered at ${server.baseURL} after ${(Date.now() - started) / 1000} s`);
const runner = spawn(process.execPath, ["--test", ...files], {
  stdio: "inherit",
  env: {
    ...process.env,
    KONSTRUCT_MEMORY_TEST_URL: server.baseURL,
    KONSTRUCT_MEMORY_TEST_ADMIN_TOKEN: server.adminToken,
  },
});
const stopRunner = () => runner.kill("SIGTERM");
process.once("SIGINT", stopRunner);
process.once("SIGTERM", stopRunner);
const status = await new Promise((done) => runner.once("exit", (code) => done(code ?? 1)));
await server.stop();
process.exit(status);
