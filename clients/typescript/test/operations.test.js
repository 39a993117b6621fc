// The client covers the contract: every operation of the served OpenAPI document has its
// method, on the class of the credential it takes, and the methods are nothing else.
// (The Python suite checks that src/api.ts is what the generator makes of the registry.)

import assert from "node:assert/strict";
import { test } from "node:test";
import { AdminClient, Client, OPERATIONS } from "../dist/index.js";
import { useService } from "./support/service.js";

const service = useService();

// Methods, not accessors: `Client.position` is the consistency token, not an operation.
function methods(cls) {
  const own = Object.getOwnPropertyDescriptors(cls.prototype);
  return Object.keys(own)
    .filter((name) => name !== "constructor" && typeof own[name].value === "function")
    .sort();
}

test("every operation of the table has its method, and every method is an operation", () => {
  const names = Object.keys(OPERATIONS);
  const admin = names.filter((name) => OPERATIONS[name].access === "admin").sort();
  const tenant = names.filter((name) => OPERATIONS[name].access !== "admin").sort();
  assert.deepEqual(methods(Client), tenant);
  assert.deepEqual(methods(AdminClient), admin);
  for (const name of names) {
    const words = OPERATIONS[name].name.split("_");
    const camel = words[0] + words.slice(1).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
    assert.equal(name, camel, "methods are the operations' names in camelCase");
  }
});

test("the table is the served OpenAPI document's: every /v1 operation, same route", async () => {
  const response = await fetch(`${service.baseURL}/openapi.json`);
  const document = await response.json();
  const served = [];
  for (const [path, routes] of Object.entries(document.paths)) {
    if (!path.startsWith("/v1/")) continue;
    for (const [method, route] of Object.entries(routes)) {
      served.push(`${route.operationId} ${method.toUpperCase()} ${path}`);
    }
  }
  const table = Object.values(OPERATIONS).map(
    (operation) => `${operation.operationId} ${operation.method} ${operation.path}`,
  );
  assert.deepEqual(table.sort(), served.sort(), "regenerate src/api.ts (scripts/generate_types.py)");
});
