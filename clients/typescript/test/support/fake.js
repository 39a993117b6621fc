// A local HTTP server answering from a script, recording what it was asked: for the answers
// a healthy test service never gives (503s, unknown codes, proxies' pages, silence).

import { createServer } from "node:http";

/** `answers`: `{ status, headers?, body? }` in order (the last one repeats), or
 * `"silence"` for a request left unanswered. */
export async function fakeService(answers) {
  const requests = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      const answer = answers[Math.min(requests.length, answers.length) - 1];
      if (answer === "silence") return;
      const text =
        answer.body === undefined
          ? ""
          : typeof answer.body === "string"
            ? answer.body
            : JSON.stringify(answer.body);
      response.writeHead(answer.status, {
        "Content-Type": typeof answer.body === "string" ? "text/html" : "application/json",
        ...answer.headers,
      });
      response.end(text);
    });
  });
  await new Promise((listening) => server.listen(0, "127.0.0.1", listening));
  return {
    baseURL: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((closed) => server.close(closed));
    },
  };
}

/** The API's error body. */
export function apiError(status, code, message, headers = {}) {
  return { status, headers, body: { error: { code, message } } };
}
