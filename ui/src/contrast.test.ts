// The console's colours are readable: every text colour on the
// backgrounds it is used on is at least 4.5:1 (WCAG AA), in light and
// dark.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const css = readFileSync(new URL('./style.css', import.meta.url), 'utf8')

function vars(block: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of block.matchAll(/--([a-z-]+):\s*(#[0-9a-fA-F]{6})/g)) out[m[1]] = m[2]
  return out
}

function luminance(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
  const l = c.map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]
}

function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p)
  return (x + 0.05) / (y + 0.05)
}

const light = vars(css.slice(0, css.indexOf('@media (prefers-color-scheme: dark)')))
const darkStart = css.indexOf('@media (prefers-color-scheme: dark)')
const dark = { ...light, ...vars(css.slice(darkStart, css.indexOf('}\n}', darkStart))) }

// Text colour on background, as style.css pairs them.
const pairs: [string, string][] = [
  ['fg', 'bg'], ['fg', 'panel'], ['muted', 'bg'], ['muted', 'panel'], ['accent', 'bg'], ['accent', 'panel'],
  ['accent-fg', 'accent'], ['ok', 'ok-bg'], ['warn', 'warn-bg'], ['bad', 'bad-bg'], ['bad', 'bg'], ['bg', 'fg'],
]

describe.each([['light', light], ['dark', dark]] as const)('%s colours', (_, v) => {
  it('define every colour used', () => {
    for (const [f, b] of pairs) {
      expect(v[f], f).toMatch(/^#/)
      expect(v[b], b).toMatch(/^#/)
    }
  })
  it.each(pairs)('%s on %s is at least 4.5:1', (f, b) => {
    expect(contrast(v[f], v[b])).toBeGreaterThanOrEqual(4.5)
  })
})

it('tells light from dark', () => {
  expect(light.bg).not.toBe(dark.bg)
  expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5)
})
