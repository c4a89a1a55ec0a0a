// The page's calls to the node API: same origin, the session cookie goes
// along by itself; writes carry the session's CSRF token.
import type { SessionInfo, SpecError } from './types'

export const CSRF_HEADER = 'X-ZLayer-CSRF'

let csrf = ''

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: SpecError[] = [],
  ) {
    super(message)
  }
}

// onUnauthorized is called when the session is gone (expired, logged out
// elsewhere, node restarted): the page shows the login again.
export let onUnauthorized = () => {}
export function setOnUnauthorized(f: () => void) {
  onUnauthorized = f
}

async function fail(r: Response): Promise<never> {
  let body: { code?: string; message?: string; errors?: SpecError[] } = {}
  try {
    body = await r.json()
  } catch {
    // Not JSON: keep the status text.
  }
  if (r.status === 401) onUnauthorized()
  throw new ApiError(r.status, body.code ?? 'error', body.message ?? `${r.status} ${r.statusText}`, body.errors ?? [])
}

export async function call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = {}
  if (method !== 'GET') headers[CSRF_HEADER] = csrf
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  })
  if (!r.ok) await fail(r)
  return r
}

export async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await call(method, path, body)
  return r.status === 204 ? (undefined as T) : ((await r.json()) as T)
}

export const get = <T>(path: string) => json<T>('GET', path)

export async function text(path: string): Promise<string> {
  return (await call('GET', path)).text()
}

export async function session(): Promise<SessionInfo | null> {
  const r = await fetch('/ui/session', { credentials: 'same-origin' })
  if (!r.ok) return null
  const s = (await r.json()) as SessionInfo
  csrf = s.csrf
  return s
}

export async function login(token: string): Promise<SessionInfo> {
  const r = await fetch('/ui/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
    credentials: 'same-origin',
  })
  if (!r.ok) {
    const b = await r.json().catch(() => ({}))
    throw new ApiError(r.status, b.code ?? 'error', b.message ?? `${r.status}`)
  }
  const s = (await r.json()) as SessionInfo
  csrf = s.csrf
  return s
}

export async function logout(): Promise<void> {
  await fetch('/ui/logout', { method: 'POST', headers: { [CSRF_HEADER]: csrf }, credentials: 'same-origin' })
  csrf = ''
}

const e = encodeURIComponent
export const paths = {
  deployments: '/v1/deployments',
  deployment: (n: string) => `/v1/deployments/${e(n)}`,
  spec: (n: string) => `/v1/deployments/${e(n)}/spec`,
  scale: (n: string, s: string) => `/v1/deployments/${e(n)}/services/${e(s)}/scale`,
  restart: (n: string, s: string) => `/v1/deployments/${e(n)}/services/${e(s)}/restart`,
  logs: (n: string, s: string, replica: number, tail: number) =>
    `/v1/deployments/${e(n)}/services/${e(s)}/logs?follow=1&tail=${tail}` + (replica ? `&replica=${replica}` : ''),
  images: '/v1/images',
  nodes: '/v1/cluster/nodes',
  metrics: '/metrics',
  events: '/v1/events',
}
