// Summarise http-cache-tests client output by test kind.
//
//   node summarise.mjs <raw.json> <out.json> [--system NAME] [--version TEXT] [--config TEXT]
//
// Kinds come from node_modules/http-cache-tests/tests/index.mjs: a test with
// no `kind` is required; the others are "optimal" and "check". The cli also
// runs tests/surrogate-control.mjs; those are not in index.mjs and are not
// counted (the published totals, 157/86/86, exclude them). A test passes
// when its result is exactly `true`.
//
// If <out.json> already exists, its "why" map (failing required test id ->
// explanation) is kept for tests that still fail, so refreshing a results
// file never loses the notes written by hand.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const pkgDir = path.join(here, 'node_modules', 'http-cache-tests')

function usage (msg) {
  if (msg) console.error(`summarise: ${msg}`)
  console.error('usage: node summarise.mjs <raw.json> <out.json> [--system NAME] [--version TEXT] [--config TEXT]')
  process.exit(2)
}

const args = process.argv.slice(2)
const pos = []
const opt = {}
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) {
    if (i + 1 >= args.length) usage(`${args[i]} needs a value`)
    opt[args[i].slice(2)] = args[++i]
  } else pos.push(args[i])
}
if (pos.length !== 2) usage()
const [rawPath, outPath] = pos

const { default: suites } = await import(pathToFileURL(path.join(pkgDir, 'tests', 'index.mjs')).href)
const suiteVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version

let raw
try {
  raw = JSON.parse(fs.readFileSync(rawPath, 'utf8'))
} catch (err) {
  console.error(`summarise: ${rawPath} is not the client's JSON output: ${err.message}`)
  process.exit(1)
}
if (raw === null || typeof raw !== 'object' || Object.keys(raw).length === 0) {
  console.error(`summarise: ${rawPath} holds no test results`)
  process.exit(1)
}

let previous = {}
if (fs.existsSync(outPath)) {
  try { previous = JSON.parse(fs.readFileSync(outPath, 'utf8')) } catch { previous = {} }
}

const kinds = ['required', 'optimal', 'check']
const counts = Object.fromEntries(kinds.map(k => [k, { passed: 0, total: 0 }]))
const failing = Object.fromEntries(kinds.map(k => [k, []]))
const messages = {}
let missing = 0
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue // the cli skips these too
    const kind = test.kind || 'required'
    if (!counts[kind]) continue
    counts[kind].total++
    const result = raw[test.id]
    if (result === true) {
      counts[kind].passed++
      continue
    }
    failing[kind].push(test.id)
    if (result === undefined) missing++
    if (kind === 'required') {
      messages[test.id] = result === undefined
        ? 'no result (test not run)'
        : Array.isArray(result) ? `${result[0]}: ${result[1]}` : String(result)
    }
  }
}
if (missing === Object.values(counts).reduce((n, c) => n + c.total, 0)) {
  console.error(`summarise: ${rawPath} has none of the suite's test ids`)
  process.exit(1)
}

const oldWhy = previous.why || {}
const why = {}
for (const id of failing.required.sort()) {
  if (oldWhy[id]) why[id] = oldWhy[id]
}

const summary = {
  system: opt.system || previous.system || path.basename(outPath, '.json'),
  version: opt.version || '',
  config: opt.config || previous.config || '',
  suite: `http-cache-tests ${suiteVersion}`,
  date: new Date().toISOString().slice(0, 10),
  required: counts.required,
  optimal: counts.optimal,
  check: counts.check,
  failing_required: failing.required.sort(),
  failing_optimal: failing.optimal.sort(),
  failure_messages: messages,
  why
}
if (previous.notes) summary.notes = previous.notes

fs.mkdirSync(path.dirname(path.resolve(outPath)), { recursive: true })
fs.writeFileSync(outPath, JSON.stringify(summary, null, 2) + '\n')
console.log(`${summary.system}: required ${counts.required.passed}/${counts.required.total}, ` +
  `optimal ${counts.optimal.passed}/${counts.optimal.total}, check ${counts.check.passed}/${counts.check.total}` +
  (missing ? ` (${missing} tests had no result)` : ''))
