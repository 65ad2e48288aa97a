// What the ops replays (umap_apply.mjs, umap_apply_map.mjs) share: reading `diff --format=ops`
// output, applying one op with a uMap updater, and comparing values as uMap leaves them.
import { readFileSync } from 'node:fs'

// One JSON message a line; a uMap batch is its inner operations, in order.
export function readOps(file) {
  const flatten = (op) => (op.verb === 'batch' ? op.operations.flatMap(flatten) : [op])
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).flatMap(flatten)
}

// Applies `op` with `updater`; an error ends the run naming the op.
export function applyOrExit(updater, op) {
  try {
    updater.applyMessage(op)
  } catch (err) {
    console.error(`not ok: ${err.message}: ${JSON.stringify(op)}`)
    process.exit(1)
  }
}

// JSON with sorted keys and without undefined members (a removed key is set to undefined)
export const canon = (v) =>
  Array.isArray(v)
    ? v.map(canon)
    : v && typeof v === 'object'
      ? Object.fromEntries(Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, canon(v[k])]))
      : v
