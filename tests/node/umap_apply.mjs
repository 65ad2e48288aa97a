// Applies ops (one JSON message a line, as `umapsync diff --format=ops` writes them) to a layer
// with uMap's own updaters (tests/fixtures/umap-js/js/modules/journal/updaters.js, unmodified)
// and checks that the result is the expected layer: same features, properties and geometry.
// Usage: node umap_apply.mjs OLD.geojson OPS.jsonl NEW.geojson [LAYER_ID]: the layer is known to
// uMap by LAYER_ID (default: the id OLD holds). Exit 0 when equal, 1 otherwise.
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
console.debug = () => {}
const { FeatureUpdater } = await import(
  path.join(here, '..', 'fixtures', 'umap-js', 'js', 'modules', 'journal', 'updaters.js')
)

const [oldFile, opsFile, newFile, givenLayerId] = process.argv.slice(2)
const load = (file) => JSON.parse(readFileSync(file, 'utf8'))

// The parts of uMap's DataLayer and Feature that FeatureUpdater touches. uMap's makeFeature
// picks the feature's class (data/features.js: Point, LineString, Polygon) from its geometry
// once; setting a geometry of another class on it keeps the wrong class, so it fails here.
const featureClass = (geometry) =>
  ({ Point: 'Point', MultiPoint: 'Point', LineString: 'LineString', MultiLineString: 'LineString',
     Polygon: 'Polygon', MultiPolygon: 'Polygon' })[geometry?.type]
class FakeFeature {
  constructor(layer, geojson) {
    this.layer = layer
    this.id = geojson.id
    this.cls = featureClass(geojson.geometry)
    this._geometry = structuredClone(geojson.geometry)
    this.properties = structuredClone(geojson.properties || {})
  }
  get geometry() {
    return this._geometry
  }
  set geometry(value) {
    if (featureClass(value) !== this.cls)
      throw new Error(`feature ${this.id} is a uMap ${this.cls}: it cannot take a ${value?.type} geometry`)
    this._geometry = value
  }
  render() {}
  del() {
    this.layer.features.delete(this.id)
  }
}
class FakeLayer {
  constructor(id) {
    this.id = id
    this.features = new Map()
  }
  makeFeature(geojson) {
    this.features.set(geojson.id, new FakeFeature(this, geojson))
  }
}

const old = load(oldFile)
const layerId = givenLayerId ?? old.properties?.id ?? old._umap_options?.id ?? null
if (layerId === null) {
  console.error('not ok: the old layer has no id: pass the id uMap knows it by')
  process.exit(1)
}
const layer = new FakeLayer(layerId)
for (const f of old.features) layer.makeFeature(f)
const app = { layers: { tree: { all: () => new Map([[layerId, layer]]) } } }
const updater = new FeatureUpdater(app)

let applied = 0
for (const op of readOps(opsFile)) {
  if (op.subject !== 'feature') continue
  if (op.metadata?.id === null || op.metadata?.id === undefined) {
    console.error(`not ok: an op without a feature id: ${JSON.stringify(op)}`)
    process.exit(1)
  }
  applyOrExit(updater, op)
  applied++
}

const want = new Map(load(newFile).features.map((f) => [f.id, f]))
let failed = 0
for (const [id, f] of want) {
  const got = layer.features.get(id)
  const g = got && JSON.stringify(canon({ properties: got.properties, geometry: got.geometry }))
  const w = JSON.stringify(canon({ properties: f.properties || {}, geometry: f.geometry }))
  if (g !== w) {
    console.error(`not ok: feature ${id}\n  got:  ${g}\n  want: ${w}`)
    failed++
  }
}
for (const id of layer.features.keys())
  if (!want.has(id)) {
    console.error(`not ok: feature ${id} should be gone`)
    failed++
  }
console.log(`${applied} ops applied by uMap's FeatureUpdater; ${want.size} features checked, ${failed} differ`)
process.exit(failed ? 1 : 0)
