// `konstruct-memory serve` for the tests: a process of its own on a free loopback port, with a
// temporary data directory (its embedded PostgreSQL starts itself there) and a temporary
// home, so the run never reads or writes the user's installation. The Python suite's guard
// (tests/hermetic) is put on PYTHONPATH as there: reaching the default data directory or
// port 8080 fails the server, saying so.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
// The executable of the repository's virtualenv unless KONSTRUCT_MEMORY_BIN names another.
export const EXECUTABLE =
  process.env.KONSTRUCT_MEMORY_BIN ?? join(REPOSITORY, ".venv", "bin", "konstruct-memory");
const START_WAIT_MS = 180_000; // a first start initialises PostgreSQL and loads the model
const STOP_WAIT_MS = 40_000;

/** A port nothing listens on now (the kernel's choice, released again). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/** The environment of a process started by the tests: the caller's, without any of its
 * KONSTRUCT_MEMORY_ settings, plus temporary directories and `settings`. */
function hermeticEnvironment(dataDir, home, settings) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("KONSTRUCT_MEMORY_")),
  );
  env.HOME = home;
  for (const kind of ["DATA", "CONFIG", "CACHE", "STATE"]) {
    env[`XDG_${kind}_HOME`] = join(home, kind.toLowerCase());
  }
  const guard = join(REPOSITORY, "tests", "hermetic");
  env.PYTHONPATH = [guard, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
  return { ...env, KONSTRUCT_MEMORY_DATA_DIR: dataDir, ...settings };
}

/** Starts `serve`; resolves to `{ baseURL, adminToken, stop }` once /healthz answers 200. */
export async function startServe() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "km-ts-data-"));
  const home = mkdtempSync(join(tmpdir(), "km-ts-home-"));
  const adminToken = `km-ts-admin-${randomBytes(24).toString("hex")}`;
  const env = hermeticEnvironment(dataDir, home, {
    KONSTRUCT_MEMORY_ADMIN_TOKEN: adminToken,
    // The tests present wrong credentials on purpose, all from one address.
    KONSTRUCT_MEMORY_FAILED_AUTH_BURST: "1000",
    // Small enough for a test to send a body over it (PayloadTooLarge).
    KONSTRUCT_MEMORY_MAX_REQUEST_BYTES: String(1024 * 1024),
    KONSTRUCT_MEMORY_RETENTION_INTERVAL_S: "0",
  });
  const child = spawn(EXECUTABLE, ["serve", "--port", String(port)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolveExit) => {
    child.once("exit", (code, signal) => resolveExit({ code, signal }));
    child.once("error", (error) => resolveExit({ code: null, signal: null, error }));
  });
  const baseURL = `http://127.0.0.1:${port}`;

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_WAIT_MS);
      await exited;
      clearTimeout(timer);
    }
    // serve leaves the embedded PostgreSQL running (as a terminal user would want): stop it.
    await new Promise((done) => {
      const stopper = spawn(EXECUTABLE, ["server", "stop"], { env, stdio: "ignore" });
      stopper.once("exit", done);
      stopper.once("error", done);
    });
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }

  const deadline = Date.now() + START_WAIT_MS;
  let ended;
  exited.then((how) => (ended = how));
  while (Date.now() < deadline) {
    if (ended) {
      await stop();
      const why = ended.error ? `could not start ${EXECUTABLE}: ${ended.error.message}` : "";
      throw new Error(`serve exited (${ended.code ?? ended.signal}) ${why}\n${output}`);
    }
    try {
      const health = await fetch(`${baseURL}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (health.status === 200) return { baseURL, adminToken, stop };
    } catch {
      // not listening yet
    }
    await new Promise((wait) => setTimeout(wait, 200));
  }
  await stop();
  throw new Error(`serve did not answer /healthz within ${START_WAIT_MS / 1000} s\n${output}`);
}
