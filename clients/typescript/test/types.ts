// Compile-time tests (`tsc --noEmit`, part of `npm test`): the methods take the API's
// fields and give its answers; a wrong field or type does not compile.

import { AdminClient, Client, type Hit, type Recalled, RateLimited } from "../src/index.js";

const client = new Client({ baseURL: "http://127.0.0.1:1", apiKey: "km_…" });
const admin = new AdminClient({ baseURL: "http://127.0.0.1:1", adminToken: "token" });

export async function compiles(): Promise<void> {
  const recalled: Recalled = await client.recall({ agent_id: "a", user_id: "u", query: "q", k: 5 });
  const best: Hit | undefined = recalled.hits[0];
  const score: number | undefined = best?.score;
  void score;
  await client.recall({ query: "a bound key leaves agent and user out" });
  await client.history();
  await client.remember({ turns: [{ role: "user", content: "hi", metadata: { channel: "x" } }] });
  const removed: void = await admin.revokeApiKey({ key_id: "k" });
  void removed;
  await admin.updateTenant({ tenant_id: "t", retention_days: null });
  const key: string = (await admin.createTenant({ name: "acme" })).api_key;
  void key;
  try {
    await client.whoami();
  } catch (error) {
    if (error instanceof RateLimited) {
      const seconds: number = error.retryAfter;
      void seconds;
    }
  }

  // @ts-expect-error query is required
  await client.recall({ agent_id: "a", user_id: "u" });
  // @ts-expect-error k is a number
  await client.recall({ query: "q", k: "5" });
  // @ts-expect-error fields keep the API's snake_case names
  await client.recall({ query: "q", minScore: 0.5 });
  // @ts-expect-error a role is "user" or "assistant"
  await client.remember({ turns: [{ role: "system", content: "hi" }] });
  // @ts-expect-error tenant operations are not the admin token's
  await admin.recall({ query: "q" });
  // @ts-expect-error admin operations are not a key's
  await client.createTenant({ name: "acme" });
}
