// Records which sources the checked-in build was made from, so that a Go
// test (noderuntime/console) can tell a stale build without npm. The Go
// side hashes the same files the same way: sourceFiles and sourcesHash
// in stale_test.go.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const skipDirs = new Set(['node_modules', 'scripts'])

function walk(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (!skipDirs.has(e.name) && !e.name.startsWith('.')) walk(p, out)
    } else if (!e.name.endsWith('.test.ts') && !e.name.startsWith('.')) {
      out.push(relative(root, p).split('\\').join('/'))
    }
  }
  return out
}

const files = walk(root, []).sort()
const h = createHash('sha256')
for (const f of files) {
  const fh = createHash('sha256').update(readFileSync(join(root, f))).digest('hex')
  h.update(`${f}\0${fh}\n`)
}
const out = join(root, '..', 'noderuntime', 'console', 'sources.sha256')
writeFileSync(out, h.digest('hex') + '\n')
console.log(`stamped ${files.length} sources into ${relative(process.cwd(), out)}`)
