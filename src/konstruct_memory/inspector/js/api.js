// The /v1 API with the signed-in credential. Errors carry the API's own words.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
    this.onRefused = null; // called when the credential stops working (revoked, rotated)
  }

  // query: {name: value or [values]}; undefined and "" are left out. body: sent as JSON.
  async request(method, path, { query, body } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      for (const one of [value].flat()) {
        if (one !== undefined && one !== null && one !== "") url.searchParams.append(name, one);
      }
    }
    const init = {
      method,
      headers: { Authorization: `Bearer ${this.token}` },
      credentials: "omit",
      cache: "no-store",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError(0, "unreachable", "the memory service did not answer");
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let answer = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch {
      answer = null;
    }
    if (!response.ok) {
      const error = answer && answer.error;
      const refusal = error && typeof error.message === "string"
        ? new ApiError(response.status, error.code, `${error.message} (${response.status})`)
        : new ApiError(response.status, "http_error", `HTTP ${response.status}`);
      if (response.status === 401 && this.onRefused) this.onRefused(refusal.message);
      throw refusal;
    }
    return answer;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, body) {
    return this.request("POST", path, { body });
  }

  patch(path, body) {
    return this.request("PATCH", path, { body });
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}

// The service routes answer without a credential; /metrics is Prometheus text.
export async function service(path) {
  const response = await fetch(path, { credentials: "omit", cache: "no-store" });
  const text = await response.text();
  return { status: response.status, text };
}

export const segment = encodeURIComponent;
