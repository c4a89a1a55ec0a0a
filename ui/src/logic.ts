// The console's logic that does not touch the DOM, unit-tested by Vitest.
import type { Deployment, ExitInfo, LogEntry, Service, SpecError } from './types'

export type Route =
  | { view: 'deployments' }
  | { view: 'deployment'; name: string }
  | { view: 'logs'; name: string; service: string; replica: number }
  | { view: 'editor'; name: string }
  | { view: 'images' }
  | { view: 'nodes' }
  | { view: 'metrics' }

// parseRoute reads the location hash: the server serves one page, and
// every view has an address that survives a reload and the back button.
export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#/, '').split('?')
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent)
  const q = new URLSearchParams(query)
  switch (parts[0]) {
    case 'deployments':
      return parts[1] ? { view: 'deployment', name: parts[1] } : { view: 'deployments' }
    case 'logs':
      if (parts.length >= 3) return { view: 'logs', name: parts[1], service: parts[2], replica: Number(q.get('replica') ?? 0) || 0 }
      break
    case 'deploy':
      return { view: 'editor', name: parts[1] ?? '' }
    case 'images':
      return { view: 'images' }
    case 'nodes':
      return { view: 'nodes' }
    case 'metrics':
      return { view: 'metrics' }
  }
  return { view: 'deployments' }
}

export function href(r: Route): string {
  const e = encodeURIComponent
  switch (r.view) {
    case 'deployments':
      return '#/deployments'
    case 'deployment':
      return `#/deployments/${e(r.name)}`
    case 'logs':
      return `#/logs/${e(r.name)}/${e(r.service)}` + (r.replica ? `?replica=${r.replica}` : '')
    case 'editor':
      return r.name ? `#/deploy/${e(r.name)}` : '#/deploy'
    default:
      return `#/${r.view}`
  }
}

// Metric is one sample of the Prometheus text format.
export interface Metric {
  name: string
  labels: Record<string, string>
  value: number
}

// parseMetrics reads the node's /metrics (Prometheus text format 0.0.4).
export function parseMetrics(text: string): Metric[] {
  const out: Metric[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
      let lm: RegExpExecArray | null
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
    }
    const value = Number(m[4])
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value })
  }
  return out
}

// counterBy sums a counter's samples by one label.
export function counterBy(ms: Metric[], name: string, label: string | ((l: Record<string, string>) => string)): Map<string, number> {
  const key = typeof label === 'string' ? (l: Record<string, string>) => l[label] ?? '' : label
  const out = new Map<string, number>()
  for (const m of ms) if (m.name === name) out.set(key(m.labels), (out.get(key(m.labels)) ?? 0) + m.value)
  return out
}

// endpointRequests is the ingress's request counters by endpoint
// (deployment/service/endpoint), every outcome (code) summed: what the
// rate chart plots.
export function endpointRequests(ms: Metric[]): Map<string, number> {
  return counterBy(ms, 'zlayer_ingress_requests_total', (l) => `${l.deployment ?? ''}/${l.service ?? ''}/${l.endpoint ?? ''}`)
}

// rates is per-second rates between two readings of counters taken dt
// seconds apart; a counter that went down (the node restarted) counts
// from zero.
export function rates(prev: Map<string, number>, cur: Map<string, number>, dt: number): Map<string, number> {
  const out = new Map<string, number>()
  if (dt <= 0) return out
  for (const [k, v] of cur) {
    const p = prev.get(k) ?? 0
    out.set(k, (v >= p ? v - p : v) / dt)
  }
  return out
}

// Summary is what a service's row shows.
export interface Summary {
  healthy: number
  unhealthy: number
  restarts: number
  lastExit?: ExitInfo
}

export function summarize(s: Service): Summary {
  const sum: Summary = { healthy: 0, unhealthy: 0, restarts: 0 }
  for (const r of s.replicas ?? []) {
    if (r.healthy === true) sum.healthy++
    if (r.healthy === false) sum.unhealthy++
    sum.restarts += r.restarts
    if (r.last_exit && (!sum.lastExit || r.last_exit.at > sum.lastExit.at)) sum.lastExit = r.last_exit
  }
  return sum
}

export function health(s: Summary): string {
  if (s.unhealthy) return `${s.unhealthy} unhealthy`
  if (s.healthy) return `${s.healthy} healthy`
  return '—'
}

export function exitText(e?: ExitInfo): string {
  if (!e) return '—'
  if (e.oom_killed) return `OOM killed (${e.code})`
  if (e.signal) return `signal ${e.signal}`
  return `exit ${e.code}`
}

// duration is a short human duration: 45s, 3m, 2h5m, 4d3h.
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`
  const d = Math.floor(h / 24)
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`
}

export function uptime(startedAt: string | undefined, now: number): string {
  if (!startedAt) return '—'
  const t = Date.parse(startedAt)
  return Number.isNaN(t) ? '—' : duration(now - t)
}

export function shortDigest(d?: string): string {
  if (!d) return '—'
  const [alg, hex] = d.includes(':') ? d.split(':', 2) : ['', d]
  return (alg ? alg + ':' : '') + hex.slice(0, 12)
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`
}

// totals is the node-wide count of ready and desired replicas.
export function totals(ds: Deployment[]): { ready: number; desired: number } {
  let ready = 0
  let desired = 0
  for (const d of ds) for (const s of d.services ?? []) {
    ready += s.ready
    desired += s.desired
  }
  return { ready, desired }
}

// errorsByLine groups a refused spec's errors by the line they are on;
// errors without a position (line 0) are under 0.
export function errorsByLine(es: SpecError[]): Map<number, SpecError[]> {
  const out = new Map<number, SpecError[]>()
  for (const e of es) {
    const l = e.Line > 0 ? e.Line : 0
    out.set(l, [...(out.get(l) ?? []), e])
  }
  return out
}

// offsetOf is the index in text of 1-based line and column, clamped to
// the text, for putting the editor's cursor on an error.
export function offsetOf(text: string, line: number, col: number): number {
  let off = 0
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off)
    if (nl < 0) return text.length
    off = nl + 1
  }
  const end = text.indexOf('\n', off)
  const lineLen = (end < 0 ? text.length : end) - off
  return off + Math.min(Math.max(col - 1, 0), lineLen)
}

export function lineCount(text: string): number {
  let n = 1
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++
  return n
}

// matcher reads the log search box: /re/ (with i) is a regular expression,
// anything else a case-insensitive substring; a broken expression matches
// as its text.
export function matcher(q: string): (line: string) => boolean {
  q = q.trim()
  if (!q) return () => true
  const re = /^\/(.+)\/(i?)$/.exec(q)
  if (re) {
    try {
      const r = new RegExp(re[1], re[2])
      return (l) => r.test(l)
    } catch {
      // Fall through to a substring search.
    }
  }
  const lq = q.toLowerCase()
  return (l) => l.toLowerCase().includes(lq)
}

// LogBuffer holds the newest lines of a stream up to a cap; while paused,
// new lines wait outside the view and join it on resume, so a reader
// keeps their place without losing lines.
export class LogBuffer {
  lines: LogEntry[] = []
  held: LogEntry[] = []
  paused = false
  dropped = 0
  constructor(readonly cap = 5000) {}

  push(e: LogEntry) {
    if (this.paused) {
      this.held.push(e)
      if (this.held.length > this.cap) {
        this.held.shift()
        this.dropped++
      }
      return
    }
    this.lines.push(e)
    this.trim()
  }

  pause() {
    this.paused = true
  }

  resume() {
    this.paused = false
    this.lines.push(...this.held)
    this.held = []
    this.trim()
  }

  private trim() {
    const over = this.lines.length - this.cap
    if (over > 0) {
      this.lines.splice(0, over)
      this.dropped += over
    }
  }
}

// LineSplitter cuts a byte stream's text into whole lines (NDJSON): a
// chunk may end in the middle of one.
export class LineSplitter {
  private rest = ''
  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split('\n')
    this.rest = parts.pop() ?? ''
    return parts.filter((p) => p.trim() !== '')
  }
}

// joinPartial puts a line the runtime wrote in parts back together: a
// partial entry is followed by the rest of its line from the same
// replica.
export function joinPartial(pending: Map<string, string>, e: LogEntry): LogEntry | null {
  const key = `${e.id}/${e.stream ?? ''}`
  if (e.partial) {
    pending.set(key, (pending.get(key) ?? '') + e.log)
    return null
  }
  const head = pending.get(key)
  if (head !== undefined) {
    pending.delete(key)
    return { ...e, log: head + e.log }
  }
  return e
}

// Series keeps the last n points of several named series, for the chart.
export class Series {
  data = new Map<string, number[]>()
  constructor(readonly n = 30) {}
  add(values: Map<string, number>) {
    const seen = new Set<string>()
    const len = this.len()
    for (const [k, v] of values) {
      const arr = this.data.get(k) ?? new Array(len).fill(0)
      arr.push(v)
      if (arr.length > this.n) arr.shift()
      this.data.set(k, arr)
      seen.add(k)
    }
    for (const [k, arr] of this.data) if (!seen.has(k)) {
      arr.push(0)
      if (arr.length > this.n) arr.shift()
    }
  }
  // len is how many points every series has before this add.
  private len(): number {
    for (const a of this.data.values()) return a.length === this.n ? this.n - 1 : a.length
    return 0
  }
  max(): number {
    let m = 0
    for (const a of this.data.values()) for (const v of a) m = Math.max(m, v)
    return m
  }
}

// polyline is the SVG points of values scaled into w×h, top = max.
export function polyline(values: number[], max: number, w: number, h: number): string {
  if (values.length === 0) return ''
  const step = values.length > 1 ? w / (values.length - 1) : 0
  const top = max > 0 ? max : 1
  return values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / top) * h).toFixed(1)}`).join(' ')
}
