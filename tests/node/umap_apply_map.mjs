// Applies the map and datalayer ops of `umapsync diff --format=ops A.umap B.umap` with uMap's
// own MapUpdater and DataLayerUpdater (tests/fixtures/umap-js, unmodified) and checks the result.
// Usage: node umap_apply_map.mjs OLD.umap OPS.jsonl NEW.umap. Exit 0 when equal, 1 otherwise.
// The fake app and layers below do what uMap's App and DataLayer (modules/app.js,
// modules/data/layer.js) do with what the updaters call: createDataLayer(spec) takes
// {id, rank, parent, properties} and drops properties.rank and properties.id; parentId is a
// setter that finds the group by id (an unknown id is an error here, as it breaks uMap);
// rank is the layer's own; the map's centre is properties.center = [lng, lat].
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { readOps, applyOrExit, canon } from './ops_replay.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
globalThis.JSDOM = class {
  constructor() {
    this.window = {}
  }
}
console.debug = (...args) => {
  // uMap drops an update whose key is not in its schema: here that is a failure
  if (String(args[0]).startsWith('Not applying')) throw new Error(args.join(' '))
}
const { MapUpdater, DataLayerUpdater } = await import(
  path.join(here, '..', 'fixtures', 'umap-js', 'js', 'modules', 'journal', 'updaters.js')
)

const [oldFile, opsFile, newFile] = process.argv.slice(2)
const load = (file) => JSON.parse(readFileSync(file, 'utf8'))

class FakeDataLayer {
  constructor(app, spec) {
    this.app = app
    if (!spec.id) throw new Error('a datalayer upsert without id')
    this.id = spec.id
    this.rank = spec.rank
    const properties = structuredClone(spec.properties || {})
    delete properties.rank
    delete properties.id
    this.properties = {}
    this.setProperties(properties)
    app.layers.byId.set(this.id, this)
    this.parentId = spec.parent
  }
  get parentId() {
    return this._parentId
  }
  set parentId(uuid) {
    if (uuid !== null && uuid !== undefined && !this.app.layers.byId.has(uuid))
      throw new Error(`layer ${this.id}: no group of id ${JSON.stringify(uuid)}`)
    this._parentId = uuid ?? undefined
  }
  setProperties(properties) {
    this.properties = Object.assign({}, this.properties, properties)
  }
  render() {}
  show() {}
  dataChanged() {}
  del() {
    this.isDeleted = true
  }
  commitDelete() {
    this.app.layers.byId.delete(this.id)
  }
}

const byId = new Map()
const app = {
  layers: { byId, tree: { all: () => byId, get: (id) => byId.get(id) } },
  createDataLayer(spec) {
    return new FakeDataLayer(this, spec)
  },
  render() {},
}

// uMap's view of a .umap: its layers flat with parent and rank among siblings, the map's
// properties with the centre as coordinates
function layersOf(doc) {
  const out = []
  const walk = (layers, parent) =>
    (layers || []).forEach((l, rank) => {
      out.push({ id: l.properties?.id ?? l._umap_options?.id, rank, parent, properties: l.properties ?? l._umap_options })
      walk(l.layers, l.properties?.id ?? l._umap_options?.id)
    })
  walk(doc.layers, undefined)
  return out
}
const mapProperties = (doc) => ({ ...doc.properties, center: doc.geometry?.coordinates })

const old = load(oldFile)
app.properties = structuredClone(mapProperties(old))
for (const spec of layersOf(old)) app.createDataLayer(structuredClone(spec))
const updaters = { map: new MapUpdater(app), datalayer: new DataLayerUpdater(app) }

let applied = 0
for (const op of readOps(opsFile)) {
  if (!updaters[op.subject]) continue
  applyOrExit(updaters[op.subject], op)
  applied++
}

const want = load(newFile)
let failed = 0
const check = (what, got, wanted) => {
  const g = JSON.stringify(canon(got))
  const w = JSON.stringify(canon(wanted))
  if (g !== w) {
    console.error(`not ok: ${what}\n  got:  ${g}\n  want: ${w}`)
    failed++
  }
}
check('map properties', app.properties, mapProperties(want))
const wantLayers = layersOf(want)
for (const l of wantLayers) {
  const got = byId.get(l.id)
  const { rank, id, ...properties } = l.properties || {}
  check(`layer ${l.id}`, got && { rank: got.rank, parent: got.parentId, properties: got.properties },
        { rank: l.rank, parent: l.parent, properties })
}
for (const id of byId.keys())
  if (!wantLayers.some((l) => l.id === id)) {
    console.error(`not ok: layer ${id} should be gone`)
    failed++
  }
console.log(`${applied} ops applied by uMap's MapUpdater and DataLayerUpdater; ${wantLayers.length} layers checked, ${failed} differ`)
process.exit(failed ? 1 : 0)
