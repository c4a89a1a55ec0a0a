import { describe, expect, it } from 'vitest'
import {
  LineSplitter, LogBuffer, Series, counterBy, duration, endpointRequests, errorsByLine, exitText, href, joinPartial,
  lineCount, matcher, offsetOf, parseMetrics, parseRoute, polyline, rates, shortDigest, summarize, totals,
} from './logic'
import type { Route } from './logic'
import type { LogEntry, Service } from './types'

describe('routes', () => {
  it('round-trips every view through the hash', () => {
    const rs: Route[] = [
      { view: 'deployments' },
      { view: 'deployment', name: 'web app' },
      { view: 'logs', name: 'app', service: 'web', replica: 0 },
      { view: 'logs', name: 'app', service: 'web', replica: 3 },
      { view: 'editor', name: '' },
      { view: 'editor', name: 'app' },
      { view: 'images' },
      { view: 'nodes' },
      { view: 'metrics' },
    ]
    for (const r of rs) expect(parseRoute(href(r))).toEqual(r)
  })
  it('sends unknown and empty hashes to the deployments', () => {
    expect(parseRoute('')).toEqual({ view: 'deployments' })
    expect(parseRoute('#/nope')).toEqual({ view: 'deployments' })
    expect(parseRoute('#/logs/only-one')).toEqual({ view: 'deployments' })
  })
})

describe('metrics', () => {
  const text = `# HELP zlayer_replica_restarts_total Replica restarts done by the node.
# TYPE zlayer_replica_restarts_total counter
zlayer_replica_restarts_total{deployment="app",service="web"} 3
zlayer_replica_restarts_total{deployment="app",service="db"} 1
zlayer_api_requests_total{route="GET /v1/deployments"} 10
zlayer_api_requests_total{route="POST /v1/deployments/{name}/services/{service}/scale"} 2
zlayer_reconcile_passes 42
zlayer_label_escapes{v="a\\"b\\\\c"} 1
garbage line
`
  it('parses names, labels with escapes and values, and skips comments', () => {
    const ms = parseMetrics(text)
    expect(ms).toHaveLength(6)
    expect(ms[0]).toEqual({ name: 'zlayer_replica_restarts_total', labels: { deployment: 'app', service: 'web' }, value: 3 })
    expect(ms.find((m) => m.name === 'zlayer_reconcile_passes')?.value).toBe(42)
    expect(ms.find((m) => m.name === 'zlayer_label_escapes')?.labels.v).toBe('a"b\\c')
  })
  it('sums counters by a label or a key function', () => {
    const ms = parseMetrics(text)
    expect(counterBy(ms, 'zlayer_replica_restarts_total', (l) => l.deployment)).toEqual(new Map([['app', 4]]))
    expect(counterBy(ms, 'zlayer_api_requests_total', 'route').get('GET /v1/deployments')).toBe(10)
  })
  it('sums the ingress requests of an endpoint over their outcomes', () => {
    const ms = parseMetrics(`zlayer_ingress_requests_total{code="2xx",deployment="shop",endpoint="http",service="web"} 7
zlayer_ingress_requests_total{code="error",deployment="shop",endpoint="http",service="web"} 1
zlayer_ingress_requests_total{code="4xx",deployment="shop",endpoint="http",service="api"} 2
zlayer_api_requests_total{route="GET /v1/deployments"} 10
`)
    expect(endpointRequests(ms)).toEqual(new Map([['shop/web/http', 8], ['shop/api/http', 2]]))
    expect(endpointRequests(parseMetrics(text)).size).toBe(0)
  })
  it('turns two readings into rates, a reset counting from zero', () => {
    const r = rates(new Map([['a', 10], ['b', 50]]), new Map([['a', 16], ['b', 4], ['c', 3]]), 2)
    expect(r).toEqual(new Map([['a', 3], ['b', 2], ['c', 1.5]]))
    expect(rates(new Map(), new Map([['a', 1]]), 0).size).toBe(0)
  })
  it('keeps series aligned when one appears late and caps their length', () => {
    const s = new Series(3)
    s.add(new Map([['a', 1]]))
    s.add(new Map([['a', 2], ['b', 5]]))
    expect(s.data.get('a')).toEqual([1, 2])
    expect(s.data.get('b')).toEqual([0, 5])
    s.add(new Map([['b', 6]]))
    s.add(new Map([['b', 7]]))
    expect(s.data.get('a')).toEqual([2, 0, 0])
    expect(s.data.get('b')).toEqual([5, 6, 7])
    expect(s.max()).toBe(7)
  })
  it('draws a polyline with the max at the top', () => {
    expect(polyline([0, 5, 10], 10, 100, 50)).toBe('0.0,50.0 50.0,25.0 100.0,0.0')
    expect(polyline([], 1, 10, 10)).toBe('')
  })
})

describe('services', () => {
  const svc: Service = {
    name: 'web', desired: 3, ready: 2, state: 'running',
    replicas: [
      { id: 'a', deployment: 'd', service: 'web', replica: 1, state: 'running', healthy: true, restarts: 1, image: 'x', current: true,
        last_exit: { code: 1, at: '2026-01-01T00:00:00Z' } },
      { id: 'b', deployment: 'd', service: 'web', replica: 2, state: 'running', healthy: false, restarts: 2, image: 'x', current: true,
        last_exit: { code: 137, at: '2026-01-02T00:00:00Z', oom_killed: true } },
      { id: 'c', deployment: 'd', service: 'web', replica: 3, state: 'creating', restarts: 0, image: 'x', current: true },
    ],
  }
  it('summarizes health, restarts and the latest exit', () => {
    const s = summarize(svc)
    expect(s).toMatchObject({ healthy: 1, unhealthy: 1, restarts: 3 })
    expect(exitText(s.lastExit)).toBe('OOM killed (137)')
    expect(exitText(undefined)).toBe('—')
    expect(exitText({ code: 0, at: '', signal: 15 })).toBe('signal 15')
  })
  it('counts ready and desired replicas of the node', () => {
    expect(totals([{ name: 'd', generation: 1, updated_at: '', ready: false, services: [svc, { ...svc, ready: 1, desired: 1 }] }]))
      .toEqual({ ready: 3, desired: 4 })
    expect(totals([{ name: 'e', generation: 1, updated_at: '', ready: true, services: null }])).toEqual({ ready: 0, desired: 0 })
  })
  it('formats durations and digests', () => {
    expect(duration(45_000)).toBe('45s')
    expect(duration(3 * 60_000 + 5_000)).toBe('3m')
    expect(duration((2 * 60 + 5) * 60_000)).toBe('2h5m')
    expect(duration(4 * 86_400_000 + 3 * 3_600_000)).toBe('4d3h')
    expect(duration(-5)).toBe('0s')
    expect(shortDigest('sha256:0123456789abcdef0123')).toBe('sha256:0123456789ab')
    expect(shortDigest(undefined)).toBe('—')
  })
})

describe('editor', () => {
  const text = 'version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n'
  it('finds the offset of a line and column, clamped to the line', () => {
    expect(offsetOf(text, 1, 1)).toBe(0)
    expect(text.slice(offsetOf(text, 5, 5))).toMatch(/^image/)
    expect(offsetOf(text, 2, 99)).toBe(text.indexOf('\nservices'))
    expect(offsetOf(text, 99, 1)).toBe(text.length)
  })
  it('groups errors by line', () => {
    const m = errorsByLine([
      { File: 'a', Line: 5, Column: 3, Path: 'x', Msg: 'one' },
      { File: 'a', Line: 5, Column: 9, Path: 'y', Msg: 'two' },
      { File: 'a', Line: 0, Column: 0, Path: '', Msg: 'whole' },
    ])
    expect(m.get(5)?.map((e) => e.Msg)).toEqual(['one', 'two'])
    expect(m.get(0)?.[0].Msg).toBe('whole')
  })
  it('counts lines', () => {
    expect(lineCount('')).toBe(1)
    expect(lineCount(text)).toBe(6)
  })
})

describe('logs', () => {
  const e = (log: string, extra: Partial<LogEntry> = {}): LogEntry => ({ replica: 1, id: 'r1', log, ...extra })
  it('matches substrings without case and /regex/', () => {
    expect(matcher('')('anything')).toBe(true)
    expect(matcher('ERR')('an error here')).toBe(true)
    expect(matcher('/^b \\d+$/')('b 12')).toBe(true)
    expect(matcher('/^b \\d+$/')('a 12')).toBe(false)
    expect(matcher('/[/')('x/[/y')).toBe(true)
  })
  it('holds lines while paused and adds them on resume', () => {
    const b = new LogBuffer(3)
    b.push(e('1'))
    b.pause()
    b.push(e('2'))
    b.push(e('3'))
    expect(b.lines.map((l) => l.log)).toEqual(['1'])
    expect(b.held).toHaveLength(2)
    b.resume()
    b.push(e('4'))
    b.push(e('5'))
    expect(b.lines.map((l) => l.log)).toEqual(['3', '4', '5'])
    expect(b.dropped).toBe(2)
  })
  it('splits a stream into whole lines across chunks', () => {
    const s = new LineSplitter()
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}'])
    expect(s.push(':2}\n\n')).toEqual(['{"b":2}'])
    expect(s.push('')).toEqual([])
  })
  it('joins a line written in parts', () => {
    const pending = new Map<string, string>()
    expect(joinPartial(pending, e('part1 ', { partial: true }))).toBeNull()
    expect(joinPartial(pending, e('other', { id: 'r2' }))?.log).toBe('other')
    expect(joinPartial(pending, e('part2'))?.log).toBe('part1 part2')
    expect(pending.size).toBe(0)
  })
})
