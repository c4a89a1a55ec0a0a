import { render } from 'preact'
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { ComponentChildren } from 'preact'
import * as api from './api'
import { ApiError, paths } from './api'
import {
  LineSplitter, LogBuffer, Series, bytes, counterBy, endpointRequests, errorsByLine, exitText, health, href, joinPartial, lineCount,
  matcher, offsetOf, parseMetrics, parseRoute, polyline, rates, shortDigest, summarize, totals, uptime,
} from './logic'
import type { Route } from './logic'
import type { Deployment, Image, LogEntry, Node, SessionInfo, SpecError } from './types'
import './style.css'

// version is bumped by every change event of the node: views that show
// node state re-read it then, never on a timer and never by a reload.
function useEvents(on: boolean): { version: number; live: boolean } {
  const [version, setVersion] = useState(0)
  const [live, setLive] = useState(false)
  useEffect(() => {
    if (!on) return
    const es = new EventSource(paths.events, { withCredentials: true })
    es.addEventListener('change', () => setVersion((v) => v + 1))
    es.onopen = () => setLive(true)
    es.onerror = () => setLive(false)
    return () => es.close()
  }, [on])
  return { version, live }
}

function useFetch<T>(path: string | null, version: number): { data?: T; error?: ApiError; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: ApiError; path?: string | null }>({})
  const [n, setN] = useState(0)
  useEffect(() => {
    if (!path) return
    let stale = false
    api.get<T>(path).then(
      (data) => !stale && setState({ data, path }),
      (error) => !stale && setState((s) => ({ data: s.path === path ? s.data : undefined, error, path })),
    )
    return () => {
      stale = true
    }
  }, [path, version, n])
  const keep = state.path === path
  return { data: keep ? state.data : undefined, error: keep ? state.error : undefined, reload: () => setN((x) => x + 1) }
}

function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}

type Notify = (msg: string, bad?: boolean) => void

interface Ctx {
  version: number
  admin: boolean
  notify: Notify
  go: (r: Route) => void
}

function Login({ onLogin }: { onLogin: (s: SessionInfo) => void }) {
  const [token, setToken] = useState('')
  const [err, setErr] = useState('')
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setErr('')
    try {
      onLogin(await api.login(token))
    } catch (x) {
      setErr((x as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="login" id="main">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">ZLayer console</h1>
        <p class="muted">Log in with the node's admin token (DATA-DIR/token) or its read token (DATA-DIR/token.read).</p>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="current-password" required value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} autofocus />
        {err && <p class="error" role="alert">{err}</p>}
        <button type="submit" class="primary" disabled={busy}>Log in</button>
      </form>
    </main>
  )
}

function StateBadge({ state }: { state: string }) {
  const cls = /running|ready|healthy|active|alive/.test(state) ? 'ok' : /fail|crash|error|unhealthy|down|dead/.test(state) ? 'bad' : 'warn'
  return <span class={`badge ${cls}`}>{state || '—'}</span>
}

function Table({ head, children, label }: { head: string[]; children: ComponentChildren; label: string }) {
  return (
    <div class="table" role="region" aria-label={label} tabIndex={0}>
      <table>
        <thead>
          <tr>{head.map((h) => <th scope="col">{h}</th>)}</tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  )
}

function Deployments({ ctx }: { ctx: Ctx }) {
  const { data, error } = useFetch<Deployment[]>(paths.deployments, ctx.version)
  const t = totals(data ?? [])
  return (
    <section>
      <div class="bar">
        <h1>Deployments</h1>
        <span class="muted" id="totals">{t.ready}/{t.desired} replicas ready</span>
        {ctx.admin && <a class="button primary" href={href({ view: 'editor', name: '' })}>Deploy</a>}
      </div>
      {error && <p class="error">{error.message}</p>}
      {data && data.length === 0 && <p class="muted">No deployments on this node yet.</p>}
      {data && data.length > 0 && (
        <Table label="Services of every deployment" head={['Deployment', 'Service', 'Ready', 'State', 'Health', 'Restarts', 'Last exit']}>
          {data.flatMap((d) => (d.services ?? []).map((s, i) => {
            const sum = summarize(s)
            return (
              <tr data-service={`${d.name}/${s.name}`}>
                <td>{i === 0 ? <a href={href({ view: 'deployment', name: d.name })}>{d.name}</a> : ''}</td>
                <td>{s.name}</td>
                <td class="num ready">{s.ready}/{s.desired}</td>
                <td><StateBadge state={s.state} /></td>
                <td>{health(sum)}</td>
                <td class="num">{sum.restarts}</td>
                <td>{exitText(sum.lastExit)}</td>
              </tr>
            )
          }))}
        </Table>
      )}
    </section>
  )
}

function ScaleControl({ name, service, desired, ctx }: { name: string; service: string; desired: number; ctx: Ctx }) {
  const [n, setN] = useState(String(desired))
  useEffect(() => setN(String(desired)), [desired])
  const scale = async (e: Event) => {
    e.preventDefault()
    try {
      await api.json('POST', paths.scale(name, service), { replicas: Number(n) })
      ctx.notify(`${service} scaled to ${n}`)
    } catch (x) {
      ctx.notify((x as Error).message, true)
    }
  }
  return (
    <form class="inline" onSubmit={scale}>
      <label for={`scale-${service}`}>Replicas</label>
      <input id={`scale-${service}`} class="scale" type="number" min={0} max={1000} value={n}
        onInput={(e) => setN((e.target as HTMLInputElement).value)} />
      <button type="submit">Scale</button>
    </form>
  )
}

function DeploymentView({ name, ctx }: { name: string; ctx: Ctx }) {
  const { data, error } = useFetch<Deployment>(paths.deployment(name), ctx.version)
  const now = useNow(5000)
  const [confirm, setConfirm] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const del = async () => {
    setDeleting(true)
    try {
      await api.json('DELETE', paths.deployment(name))
      ctx.notify(`${name} deleted`)
      ctx.go({ view: 'deployments' })
    } catch (x) {
      ctx.notify((x as Error).message, true)
      setDeleting(false)
    }
  }
  const restart = async (svc: string) => {
    try {
      await api.json('POST', paths.restart(name, svc))
      ctx.notify(`${svc} restarting`)
    } catch (x) {
      ctx.notify((x as Error).message, true)
    }
  }
  if (error) return <p class="error">{error.message}</p>
  if (!data) return <p class="muted">Loading…</p>
  return (
    <section>
      <div class="bar">
        <h1>{name}</h1>
        <span class="muted" id="generation">generation {data.generation}</span>
        <StateBadge state={data.ready ? 'ready' : 'pending'} />
        {ctx.admin && <a class="button" href={href({ view: 'editor', name })}>Edit spec</a>}
        {ctx.admin && !confirm && <button class="danger" onClick={() => setConfirm(true)}>Delete</button>}
        {ctx.admin && confirm && (
          <span class="inline">
            <button class="danger" id="confirm-delete" onClick={del} disabled={deleting}>{deleting ? 'Deleting…' : 'Confirm delete'}</button>
            <button onClick={() => setConfirm(false)}>Cancel</button>
          </span>
        )}
      </div>
      {data.rollout && <p class="note">Rollout {data.rollout.state}: {data.rollout.message}</p>}
      {(data.services ?? []).map((s) => (
        <article class="service" data-service={s.name}>
          <div class="bar">
            <h2>{s.name}</h2>
            <span class="num ready">{s.ready}/{s.desired} ready</span>
            <StateBadge state={s.state} />
            <a class="button" href={href({ view: 'logs', name, service: s.name, replica: 0 })}>Logs</a>
            {ctx.admin && <ScaleControl name={name} service={s.name} desired={s.desired} ctx={ctx} />}
            {ctx.admin && <button id={`restart-${s.name}`} onClick={() => restart(s.name)}>Restart</button>}
          </div>
          {s.message && <p class="note">{s.message}</p>}
          <Table label={`Replicas of ${s.name}`} head={['#', 'Node', 'Address', 'State', 'Health', 'Image', 'Uptime', 'Restarts', 'Last exit', '']}>
            {(s.replicas ?? []).map((r) => (
              <tr class="replica" data-replica={r.replica}>
                <td class="num">{r.replica}</td>
                <td>{r.node || 'this node'}</td>
                <td class="mono">{r.address || '—'}</td>
                <td><StateBadge state={r.state} />{r.message && <span class="muted small"> {r.message}</span>}</td>
                <td>{r.healthy === undefined ? '—' : r.healthy ? 'healthy' : 'unhealthy'}</td>
                <td class="mono" title={`${r.image} ${r.image_digest ?? ''}`}>{shortDigest(r.image_digest)}</td>
                <td>{uptime(r.started_at, Math.max(now, Date.now()))}</td>
                <td class="num">{r.restarts}</td>
                <td>{exitText(r.last_exit)}</td>
                <td><a href={href({ view: 'logs', name, service: s.name, replica: r.replica })}>logs</a></td>
              </tr>
            ))}
          </Table>
        </article>
      ))}
    </section>
  )
}

function LogsView({ name, service, replica }: { name: string; service: string; replica: number }) {
  const buf = useRef(new LogBuffer(5000))
  const [, setTick] = useState(0)
  const [query, setQuery] = useState('')
  const [paused, setPaused] = useState(false)
  const [follow, setFollow] = useState(true)
  const [status, setStatus] = useState('connecting')
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    buf.current = new LogBuffer(5000)
    setPaused(false)
    const ctl = new AbortController()
    let frame = 0
    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(() => {
        frame = 0
        setTick((t) => t + 1)
      })
    }
    ;(async () => {
      try {
        const r = await api.call('GET', paths.logs(name, service, replica, 500), undefined, ctl.signal)
        setStatus('streaming')
        const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader()
        const split = new LineSplitter()
        const pending = new Map<string, string>()
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          for (const line of split.push(value)) {
            const e = joinPartial(pending, JSON.parse(line) as LogEntry)
            if (e) buf.current.push(e)
          }
          redraw()
        }
        setStatus('ended')
      } catch (x) {
        if (!ctl.signal.aborted) setStatus(`failed: ${(x as Error).message}`)
      }
    })()
    return () => {
      ctl.abort()
      cancelAnimationFrame(frame)
    }
  }, [name, service, replica])
  const match = useMemo(() => matcher(query), [query])
  const lines = buf.current.lines.filter((l) => match(l.log))
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight
  })
  const togglePause = () => {
    if (paused) buf.current.resume()
    else buf.current.pause()
    setPaused(!paused)
  }
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
        e.preventDefault()
        document.getElementById('log-search')?.focus()
      }
    }
    window.addEventListener('keydown', key)
    return () => window.removeEventListener('keydown', key)
  }, [])
  return (
    <section class="logs">
      <div class="bar">
        <h1>Logs <a href={href({ view: 'deployment', name })}>{name}</a>/{service}{replica ? ` #${replica}` : ''}</h1>
        <span class="muted" id="log-status">{status}{paused ? `, paused (${buf.current.held.length} new)` : ''}</span>
      </div>
      <div class="bar">
        <label for="log-search" class="sr-only">Search</label>
        <input id="log-search" type="search" placeholder="Search (/regex/ too; press /)" value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <button id="log-pause" onClick={togglePause} aria-pressed={paused}>{paused ? 'Resume' : 'Pause'}</button>
        <label class="inline"><input id="log-follow" type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow</label>
      </div>
      <div class="logbox" ref={box} role="log" aria-live="off" tabIndex={0} id="log-lines">
        {lines.map((l) => (
          <div class={`line ${l.stream === 'stderr' ? 'stderr' : ''}`}>
            <span class="muted">{l.time ? l.time.slice(11, 19) : ''} #{l.replica}</span> {l.log}
          </div>
        ))}
        {lines.length === 0 && <p class="muted">{query ? 'No line matches.' : 'No lines yet.'}</p>}
      </div>
    </section>
  )
}

const newSpec = `version: v1
deployment: hello
services:
  web:
    image: busybox
    command:
      entrypoint: ["/bin/sh", "-c", "while true; do echo hello; sleep 5; done"]
    scale:
      replicas: 1
`

function Editor({ name, ctx }: { name: string; ctx: Ctx }) {
  const [text, setText] = useState(name ? '' : newSpec)
  const [errors, setErrors] = useState<SpecError[]>([])
  const [msg, setMsg] = useState('')
  const [busy, setBusy] = useState(false)
  const area = useRef<HTMLTextAreaElement>(null)
  const gutter = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!name) return
    api.text(paths.spec(name)).then(setText, (x) => setMsg((x as Error).message))
  }, [name])
  const byLine = errorsByLine(errors)
  const file = `${name || 'spec'}.yaml`
  const submit = async (apply: boolean) => {
    setBusy(true)
    setMsg('')
    try {
      // Always checked first: an apply never starts with a spec the
      // server would refuse.
      await api.json('POST', paths.deployments + '?dry_run=1', { file, spec: text })
      setErrors([])
      if (!apply) {
        setMsg('The spec is valid.')
        return
      }
      const d = await api.json<Deployment>('POST', paths.deployments, { file, spec: text })
      ctx.notify(`${d.name} applied (generation ${d.generation})`)
      ctx.go({ view: 'deployment', name: d.name })
    } catch (x) {
      const e = x as ApiError
      setErrors(e.errors?.length ? e.errors : [{ File: file, Line: 0, Column: 0, Path: '', Msg: e.message }])
      setMsg('')
    } finally {
      setBusy(false)
    }
  }
  const jump = (e: SpecError) => {
    const a = area.current
    if (!a || e.Line <= 0) return
    const off = offsetOf(text, e.Line, e.Column)
    a.focus()
    a.setSelectionRange(off, off)
  }
  const n = lineCount(text)
  return (
    <section>
      <div class="bar">
        <h1>{name ? `Edit ${name}` : 'Deploy a spec'}</h1>
        <button onClick={() => submit(false)} disabled={busy || !ctx.admin}>Validate</button>
        <button class="primary" id="apply" onClick={() => submit(true)} disabled={busy || !ctx.admin}>Apply</button>
      </div>
      {msg && <p class="note" role="status">{msg}</p>}
      {errors.length > 0 && (
        <ul class="errors" role="alert" id="spec-errors">
          {errors.map((e) => (
            <li>
              <button class="link" onClick={() => jump(e)}>
                {e.Line > 0 ? `line ${e.Line}, column ${e.Column}` : 'spec'}
              </button>
              {e.Path && <code>{e.Path}</code>} {e.Msg}
            </li>
          ))}
        </ul>
      )}
      <div class="editor">
        <div class="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: n }, (_, i) => (
            <div class={byLine.has(i + 1) ? 'err' : ''} data-line={i + 1} title={byLine.get(i + 1)?.map((e) => e.Msg).join('; ')}>{i + 1}</div>
          ))}
        </div>
        <textarea ref={area} id="spec" spellcheck={false} aria-label="Deployment spec (YAML)" value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop)}
          onKeyDown={(e) => {
            // Tab indents inside the editor; Escape leaves it for the
            // keyboard's next stop.
            if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey) {
              const a = e.target as HTMLTextAreaElement
              e.preventDefault()
              a.setRangeText('  ', a.selectionStart, a.selectionEnd, 'end')
              setText(a.value)
            } else if (e.key === 'Escape') (e.target as HTMLTextAreaElement).blur()
          }} />
      </div>
    </section>
  )
}

function Images({ ctx }: { ctx: Ctx }) {
  const { data, error } = useFetch<Image[]>(paths.images, ctx.version)
  return (
    <section>
      <h1>Images</h1>
      {error && <p class="error">{error.message}</p>}
      {data && data.length === 0 && <p class="muted">No images on this node.</p>}
      {data && data.length > 0 && (
        <Table label="Images on this node" head={['Name', 'Digest', 'Size', 'Used by']}>
          {data.map((i) => (
            <tr>
              <td class="mono">{i.name}</td>
              <td class="mono" title={i.digest}>{shortDigest(i.digest)}</td>
              <td class="num">{bytes(i.size)}</td>
              <td>{(i.used_by ?? []).join(', ') || '—'}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  )
}

function Nodes({ ctx }: { ctx: Ctx }) {
  const { data, error } = useFetch<{ nodes: Node[]; warning?: string }>(paths.nodes, ctx.version)
  return (
    <section>
      <h1>Nodes</h1>
      {error && (error.status === 404 ? <p class="muted">This node is not in a cluster: it runs everything itself.</p> : <p class="error">{error.message}</p>)}
      {data?.warning && <p class="note">{data.warning}</p>}
      {data && (
        <Table label="Nodes of the cluster" head={['Name', 'Role', 'State', 'Address', 'Replicas', 'Version', 'Last seen']}>
          {data.nodes.map((n) => (
            <tr>
              <td>{n.name}{n.leader ? ' (leader)' : ''}</td>
              <td>{n.role}</td>
              <td><StateBadge state={n.state} /></td>
              <td class="mono">{n.address}</td>
              <td class="num">{n.replicas}</td>
              <td>{n.version ?? '—'}</td>
              <td>{n.last_seen ?? '—'}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  )
}

const colors = ['#2f7de1', '#d9480f', '#2b8a3e', '#ae3ec9', '#e8590c', '#1098ad']

function Metrics() {
  const series = useRef(new Series(30))
  const prev = useRef<{ at: number; reqs: Map<string, number> } | null>(null)
  const [restarts, setRestarts] = useState<Map<string, number>>(new Map())
  const [err, setErr] = useState('')
  const [, setTick] = useState(0)
  useEffect(() => {
    let stop = false
    const scrape = async () => {
      try {
        const ms = parseMetrics(await api.text(paths.metrics))
        const at = Date.now()
        const reqs = endpointRequests(ms)
        if (prev.current) series.current.add(rates(prev.current.reqs, reqs, (at - prev.current.at) / 1000))
        prev.current = { at, reqs }
        setRestarts(counterBy(ms, 'zlayer_replica_restarts_total', (l) => `${l.deployment}/${l.service}`))
        setErr('')
        setTick((t) => t + 1)
      } catch (x) {
        setErr((x as Error).message)
      }
    }
    scrape()
    const t = setInterval(() => !stop && scrape(), 3000)
    return () => {
      stop = true
      clearInterval(t)
    }
  }, [])
  const top = [...series.current.data.entries()]
    .sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0))
    .slice(0, colors.length)
  const max = Math.max(...top.flatMap(([, v]) => v), 0.1)
  const rmax = Math.max(...restarts.values(), 1)
  return (
    <section>
      <h1>Metrics</h1>
      {err && <p class="error">{err}</p>}
      <h2>Replica restarts</h2>
      {restarts.size === 0 && <p class="muted">No replica has restarted.</p>}
      <div class="bars" id="restarts-chart">
        {[...restarts.entries()].map(([k, v]) => (
          <div class="barrow">
            <span class="mono">{k}</span>
            <span class="barfill" style={{ width: `${(v / rmax) * 100}%` }} />
            <span class="num">{v}</span>
          </div>
        ))}
      </div>
      <h2>Requests per second, by endpoint</h2>
      {prev.current && prev.current.reqs.size === 0 && <p class="muted">No request has come through the ingress to a public endpoint.</p>}
      <svg viewBox="0 0 300 100" class="chart" role="img" aria-label={`Request rates, top ${top.length} endpoints, peak ${max.toFixed(2)}/s`} id="rate-chart">
        <line x1="0" y1="100" x2="300" y2="100" class="axis" />
        {top.map(([, v], i) => <polyline points={polyline(v, max, 300, 100)} fill="none" stroke={colors[i]} stroke-width="1.5" />)}
      </svg>
      <ul class="legend">
        {top.map(([k, v], i) => (
          <li><span class="swatch" style={{ background: colors[i] }} /> <span class="mono">{k}</span> {(v[v.length - 1] ?? 0).toFixed(2)}/s</li>
        ))}
      </ul>
      <p class="muted small">Peak {max.toFixed(2)}/s over the last {series.current.n} readings, 3 s apart.</p>
    </section>
  )
}

const nav: { label: string; route: Route }[] = [
  { label: 'Deployments', route: { view: 'deployments' } },
  { label: 'Deploy', route: { view: 'editor', name: '' } },
  { label: 'Images', route: { view: 'images' } },
  { label: 'Nodes', route: { view: 'nodes' } },
  { label: 'Metrics', route: { view: 'metrics' } },
]

function App() {
  const [sess, setSess] = useState<SessionInfo | null | undefined>(undefined)
  const [route, setRoute] = useState<Route>(parseRoute(location.hash))
  const [toast, setToast] = useState<{ msg: string; bad: boolean; at: number } | null>(null)
  useEffect(() => {
    api.session().then(setSess)
    api.setOnUnauthorized(() => setSess(null))
    const on = () => {
      setRoute(parseRoute(location.hash))
      // A message about the view left behind goes with it; one that
      // came with the move (deleted, applied) stays.
      setToast((t) => (t && Date.now() - t.at > 1000 ? null : t))
    }
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  const { version, live } = useEvents(!!sess)
  const notify = useCallback<Notify>((msg, bad = false) => {
    setToast({ msg, bad, at: Date.now() })
    setTimeout(() => setToast((t) => (t?.msg === msg ? null : t)), 5000)
  }, [])
  const go = useCallback((r: Route) => {
    location.hash = href(r)
  }, [])
  if (sess === undefined) return <p class="muted">Loading…</p>
  if (sess === null) return <Login onLogin={setSess} />
  const ctx: Ctx = { version, admin: sess.scope === 'admin', notify, go }
  const current = route.view === 'deployment' || route.view === 'logs' ? 'deployments' : route.view
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault()
        document.getElementById('main')?.focus()
      }}>Skip to content</a>
      <header>
        <strong class="brand">ZLayer</strong>
        <nav aria-label="Views">
          {nav.filter((n) => ctx.admin || n.route.view !== 'editor').map((n) => (
            <a href={href(n.route)} aria-current={current === n.route.view ? 'page' : undefined}>{n.label}</a>
          ))}
        </nav>
        <span class={`live ${live ? 'ok' : 'warn'}`} title={live ? 'live updates on' : 'reconnecting'} id="live">{live ? 'live' : 'offline'}</span>
        {!ctx.admin && <span class="badge warn" id="readonly">read-only</span>}
        <button class="link" onClick={async () => {
          await api.logout()
          setSess(null)
        }}>Log out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.view === 'deployments' && <Deployments ctx={ctx} />}
        {route.view === 'deployment' && <DeploymentView name={route.name} ctx={ctx} />}
        {route.view === 'logs' && <LogsView name={route.name} service={route.service} replica={route.replica} />}
        {route.view === 'editor' && <Editor key={route.name} name={route.name} ctx={ctx} />}
        {route.view === 'images' && <Images ctx={ctx} />}
        {route.view === 'nodes' && <Nodes ctx={ctx} />}
        {route.view === 'metrics' && <Metrics />}
      </main>
      <div class={`toast ${toast?.bad ? 'bad' : ''}`} role="status" aria-live="polite" id="toast">{toast?.msg ?? ''}</div>
    </>
  )
}

render(<App />, document.getElementById('app')!)
