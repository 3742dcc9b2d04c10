// api.js -- the JSON API under /api/v1 with the session cookie
// (apolo_session, HttpOnly: the page never sees the token).

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// api('GET', '/accounts', {query, body, headers, raw}): the parsed JSON
// (null for 204); raw: the body as is (a File, CSV text) with its type.
export async function api(method, path, opts = {}) {
  let url = '/api/v1' + path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const qs = q.toString();
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  // X-Apolo-CSRF: apolod refuses a cookie session's POST/PUT/PATCH/DELETE
  // without it (a page of another site cannot send a custom header).
  const init = { method, headers: { Accept: 'application/json', 'X-Apolo-CSRF': '1',
                                    ...(opts.headers || {}) },
                 credentials: 'same-origin' };
  if (opts.raw !== undefined) {
    init.body = opts.raw;
  } else if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  if (r.status === 204) return null;
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    if (r.status === 401 && path !== '/login') onUnauthorized();
    const err = data?.error || {};
    throw new ApiError(r.status, err.code, err.message, data);
  }
  if (opts.withStatus) return { status: r.status, data };
  return data;
}

// A fresh Idempotency-Key for one submission (retries of the same
// submission reuse it; a new submission gets a new one).
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
