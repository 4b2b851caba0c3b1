// Every call to the REST API goes through here: the API token, JSON in and out, and
// one kind of error whose message is the API's own `message`.

const BASE = '/api/v1';
const TOKEN_KEY = 'hookline.apiToken';
const tokenNeededListeners = new Set();

/** A refused or failed call: `status` 0 when the service did not answer at all. */
class ApiError extends Error {
  constructor(status, body) {
    super(messageOf(status, body));
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

function messageOf(status, body) {
  if (body && typeof body.message === 'string' && body.message) return body.message;
  if (body && typeof body.error === 'string' && body.error) return body.error;
  return status ? `HTTP ${status}` : 'The service did not answer';
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

/** `listener(message)` is called whenever the API asks for a token. */
export function onTokenNeeded(listener) {
  tokenNeededListeners.add(listener);
}

/**
 * Sends a request and reads the answer as JSON whatever its status:
 * `{ status, ok, body, headers }`. Throws an ApiError only when nothing answered.
 * `body` is sent as is (a string or bytes); `json` is serialized first.
 */
export async function send(method, path, { json, body, headers = {} } = {}) {
  const request = { method, headers: { Accept: 'application/json', ...headers } };
  const bearer = token();
  if (bearer) request.headers.Authorization = `Bearer ${bearer}`;
  if (json !== undefined) {
    request.headers['Content-Type'] = 'application/json';
    request.body = JSON.stringify(json);
  } else if (body !== undefined) {
    request.body = body;
  }
  let response;
  try {
    response = await fetch(BASE + path, request);
  } catch (error) {
    throw new ApiError(0, { message: `The service did not answer: ${error.message}` });
  }
  const text = await response.text();
  let answer = null;
  if (text) {
    try {
      answer = JSON.parse(text);
    } catch {
      answer = { message: text.slice(0, 500) };
    }
  }
  if (asksForToken(response)) {
    const message = bearer ? 'The API refused this token: enter another one.' : 'The API needs a token: enter it here.';
    for (const listener of tokenNeededListeners) listener(message);
  }
  return { status: response.status, ok: response.ok, body: answer, headers: response.headers };
}

/** A 401 about the caller rather than about a webhook's signature (ingest's own 401). */
function asksForToken(response) {
  if (response.status !== 401) return false;
  const challenge = response.headers.get('WWW-Authenticate') ?? '';
  return challenge.toLowerCase().startsWith('bearer') || !response.url.includes(`${BASE}/ingest/`);
}

/** What went wrong, from a refused answer: its `message`, then any per-field problems. */
export function describe(answer) {
  const fields = Object.entries(answer.body?.errors ?? {}).map(([field, problem]) => `${field}: ${problem}`);
  return [messageOf(answer.status, answer.body), ...fields].join(' — ');
}

/** Like `send`, but a non-2xx answer is thrown as an ApiError. */
export async function call(method, path, options) {
  const answer = await send(method, path, options);
  if (!answer.ok) throw new ApiError(answer.status, answer.body);
  return answer;
}

/** The body of a GET. */
export async function get(path) {
  return (await call('GET', path)).body;
}

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== '' && value !== null && value !== undefined) search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
