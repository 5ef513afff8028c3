// Talking to Querent over HTTP: the session cookie (with its CSRF token) or an API key the person typed.

const KEY_STORAGE = "querent.apiKey";

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.body = body;
  }
}

export const credentials = {
  /** The API key typed on this tab, kept for the tab's life only (sessionStorage). */
  get apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  },
  set apiKey(value) {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
};

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (credentials.apiKey) headers.Authorization = `Bearer ${credentials.apiKey}`;
  else if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "Querent cannot be reached; check your connection.", null);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = (data && data.detail) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail, data);
  }
  return data;
}

/** The websocket URL of a thread, resuming after `after`, with the API key when one is in use. */
export function threadSocketUrl(threadId, after) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const params = new URLSearchParams({ after: String(after) });
  if (credentials.apiKey) params.set("token", credentials.apiKey);
  return `${scheme}://${location.host}/ws/threads/${threadId}/?${params}`;
}
