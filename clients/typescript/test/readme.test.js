// The README's TypeScript example, run as written against the test service: only the address
// and the key are replaced, and the package's import points at this build.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { test } from "node:test";
import { REPOSITORY } from "./support/serve.js";
import { newTenant, useService } from "./support/service.js";

const service = useService();

function readmeExample() {
  const readme = readFileSync(join(REPOSITORY, "README.md"), "utf8");
  const section = readme.match(/^## TypeScript\n([\s\S]*?)(?=^## |(?![\s\S]))/m);
  assert.ok(section, "README.md has a '## TypeScript' section");
  const blocks = [...section[1].matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((block) => block[1]);
  assert.equal(blocks.length, 1, "one ```ts example");
  return blocks[0];
}

test("the README's example runs and prints what it recalls", async () => {
  const { created } = await newTenant(service);
  const built = pathToFileURL(join(REPOSITORY, "clients/typescript/dist/index.js")).href;
  const source = readmeExample()
    .replace('from "konstruct-memory"', `from ${JSON.stringify(built)}`)
    .replaceAll("http://127.0.0.1:8080", service.baseURL)
    .replaceAll('"km_…"', JSON.stringify(created.api_key));
  assert.ok(source.includes(built) && source.includes(created.api_key), "what is replaced");
  const directory = mkdtempSync(join(tmpdir(), "km-ts-readme-"));
  try {
    // The example is TypeScript without annotations, so it runs as JavaScript.
    const script = join(directory, "example.mjs");
    writeFileSync(script, source);
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 60_000 });
    assert.match(stdout, /I moved to Porto last month/);
    assert.match(stdout, /Recent conversation:/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
