// Runs uMap's own realtime journal (tests/fixtures/umap-js: engine.js, websocket.js, hlc.js,
// updaters.js, unmodified) as browser peers against `umapsync serve --umap-secret-file`.
// Usage: node umap_peers.mjs SCENARIO, with PORT, MAP, SECRET_FILE, UMAP_JS_DEPS (a directory
// whose node_modules holds `ws`), PYTHON (with Django), UMAPSYNC and REPO (a repository whose
// remote is the map) in the environment. Prints what it checked; exits 1 on the first failure.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const umapJs = path.join(here, '..', 'fixtures', 'umap-js', 'js', 'modules')
const require = createRequire(path.join(process.env.UMAP_JS_DEPS, 'package.json'))
const WebSocket = require('ws')

const { PORT, MAP, SECRET_FILE, PYTHON = 'python3' } = process.env
const LAYER = process.env.LAYER || 'a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03'
const TIMEOUT_MS = 15000

// What a browser gives the journal; uMap's own unittests stub the DOM the same way.
globalThis.WebSocket = WebSocket
globalThis.window = { location: { protocol: 'http:', host: `127.0.0.1:${PORT}` } }
globalThis.JSDOM = class {
  constructor() {
    this.window = {}
  }
}
if (!process.env.VERBOSE) console.debug = () => {}
const { Journal } = await import(path.join(umapJs, 'journal', 'engine.js'))

// A token as uMap's view get_websocket_auth_token makes it, by Django's own signing.
export function mintToken({ mapId = MAP, permissions = ['edit'], secret } = {}) {
  const key = secret ?? readFileSync(SECRET_FILE, 'utf8').replace(/\r?\n$/, '')
  const script = `
import json, sys
from django.conf import settings
settings.configure(SECRET_KEY=sys.argv[1])
from django.core.signing import TimestampSigner
print(TimestampSigner().sign_object({"user": "anonymous", "map_id": json.loads(sys.argv[2]), "permissions": json.loads(sys.argv[3])}))`
  return execFileSync(PYTHON, ['-c', script, key, JSON.stringify(mapId), JSON.stringify(permissions)])
    .toString()
    .trim()
}

// The parts of uMap's map, datalayer and feature objects that updaters.js touches.
class FakeFeature {
  constructor(layer, geojson) {
    this.layer = layer
    this.id = geojson.id
    this.geometry = geojson.geometry
    this.properties = structuredClone(geojson.properties || {})
  }
  render() {}
  del() {
    this.layer.features.delete(this.id)
  }
}

class FakeLayer {
  constructor(id, properties = {}) {
    this.id = id
    this.properties = properties
    this.features = new Map()
  }
  makeFeature(geojson) {
    const feature = new FakeFeature(this, geojson)
    this.features.set(feature.id, feature)
    return feature
  }
  show() {}
  dataChanged() {}
  render() {}
  setProperties(properties) {
    this.properties = properties
  }
  del() {
    this.deleted = true
  }
  commitDelete() {}
}

export class Peer {
  constructor(name, { layers = [LAYER], token } = {}) {
    this.name = name
    this.layers = new Map(layers.map((id) => [id, new FakeLayer(id)]))
    const app = {
      id: MAP,
      properties: { user: { name } },
      urls: {
        get: (what, { map_id }) =>
          what === 'ws_sync' ? `/ws/sync/${map_id}` : `/api/maps/${map_id}/token`,
      },
      server: { get: async () => [{ token: token ?? mintToken() }, null, null] },
      layers: { tree: { all: () => this.layers } },
      createDataLayer: (value) => {
        const layer = new FakeLayer(value.id, value.properties)
        this.layers.set(value.id, layer)
        return layer
      },
      render: () => {},
    }
    this.app = app
    this.journal = new Journal(app)
  }
  async join() {
    await this.journal.authenticate()
    await waitFor(`${this.name} joined`, () => this.journal.peers?.[this.journal.peerId] !== undefined)
  }
  leave() {
    this.journal.stop()
  }
  feature(id, layer = LAYER) {
    return this.layers.get(layer)?.features.get(id)
  }
  // What uMap's Feature does on creation: add it locally, then tell the journal.
  addFeature(geojson, layer = LAYER) {
    this.layers.get(layer).makeFeature(geojson)
    this.journal.upsert(
      'feature',
      { id: geojson.id, layerId: layer, featureType: 'marker' },
      undefined,
      geojson,
      null
    )
  }
  setProperty(id, key, value, layer = LAYER) {
    const feature = this.feature(id, layer)
    const old = feature.properties[key]
    feature.properties[key] = value
    this.journal.update(
      'feature',
      { id, layerId: layer, featureType: 'marker' },
      undefined,
      `properties.${key}`,
      value,
      old
    )
  }
}

export async function waitFor(what, test, ms = TIMEOUT_MS) {
  const until = Date.now() + ms
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  console.log(`ok: ${what}`)
}

const point = (id, name, x = 4.83, y = 45.76) => ({
  type: 'Feature',
  id,
  geometry: { type: 'Point', coordinates: [x, y] },
  properties: { name },
})

// A raw websocket that sends one JoinRequest and tells how the server answered.
function rawJoin(token, mapId = MAP, peer = 'rawpeer') {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws/sync/${mapId}`)
    const got = []
    ws.on('open', () => ws.send(JSON.stringify({ kind: 'JoinRequest', token, peer, username: 'x' })))
    ws.on('message', (data) => got.push(JSON.parse(data.toString())))
    ws.on('close', (code) => resolve({ code, kinds: got.map((m) => m.kind) }))
    setTimeout(() => ws.close(), TIMEOUT_MS)
  })
}

const scenarios = {
  // two peers editing live, a third joining late and receiving everything
  async live() {
    const a = new Peer('Ann'), b = new Peer('Bob')
    await a.join()
    await b.join()
    await waitFor('Ann sees Bob and the server among the peers', () =>
      Object.keys(a.journal.peers).length === 3 && a.journal.peers.umapsync !== undefined)
    a.addFeature(point('aaaaa', 'from Ann'))
    await waitFor("Ann's new feature reaches Bob", () => b.feature('aaaaa')?.properties.name === 'from Ann')
    b.setProperty('aaaaa', 'name', 'renamed by Bob')
    await waitFor("Bob's edit reaches Ann", () => a.feature('aaaaa')?.properties.name === 'renamed by Bob')
    b.addFeature(point('bbbbb', 'from Bob', 4.9, 45.7))
    await waitFor("Bob's feature reaches Ann", () => a.feature('bbbbb') !== undefined)
    // uMap groups some edits in a batch (startBatch/commitBatch): one message, inner operations
    b.journal.startBatch()
    b.setProperty('bbbbb', 'capacity', 12)
    b.setProperty('bbbbb', 'covered', true)
    b.journal.commitBatch('feature', { id: 'bbbbb', layerId: LAYER, featureType: 'marker' })
    await waitFor("Bob's batch reaches Ann", () =>
      a.feature('bbbbb')?.properties.capacity === 12 && a.feature('bbbbb')?.properties.covered === true)
    const c = new Peer('Cyd')
    await c.join()
    await waitFor('Cyd, joining late, gets every edit', () =>
      c.feature('aaaaa')?.properties.name === 'renamed by Bob' && c.feature('bbbbb')?.properties.name === 'from Bob' &&
      c.feature('bbbbb')?.properties.capacity === 12)
    for (const p of [a, b, c]) p.leave()
  },
  // everyone left: the server alone answers a late joiner from its op log
  async replay() {
    const a = new Peer('Ann')
    await a.join()
    a.addFeature(point('rrrrr', 'kept by the server'))
    a.setProperty('rrrrr', 'name', 'kept and renamed')
    await new Promise((r) => setTimeout(r, 300))
    a.leave()
    await new Promise((r) => setTimeout(r, 300))
    const c = new Peer('Cyd')
    await c.join()
    await waitFor('the server is the only other peer', () =>
      Object.keys(c.journal.peers).sort().join() === [c.journal.peerId, 'umapsync'].sort().join())
    // the browser asked a random peer, maybe Ann on her way out: ask again, now the server
    c.journal.onJoinResponse({ peer: c.journal.peerId, peers: c.journal.peers })
    await waitFor('a late joiner gets the log from the server', () =>
      c.feature('rrrrr')?.properties.name === 'kept and renamed')
    c.leave()
  },
  // with --retain, the server answers from what its log still holds
  async retained() {
    const a = new Peer('Ann')
    await a.join()
    a.addFeature(point('ttttt', 'first'))
    for (const name of ['second', 'third', 'fourth']) a.setProperty('ttttt', 'name', name)
    // browsers load the saved map before they join: they hold the feature already
    const b = new Peer('Bob')
    b.layers.get(LAYER).makeFeature(point('ttttt', 'as saved'))
    await b.join()
    await waitFor('the last edit is logged', () => b.feature('ttttt')?.properties.name === 'fourth')
    a.leave()
    b.leave()
    const c = new Peer('Cyd')
    c.layers.get(LAYER).makeFeature(point('ttttt', 'as saved'))
    await c.join()
    await waitFor('the server is the only other peer', () =>
      Object.keys(c.journal.peers).sort().join() === [c.journal.peerId, 'umapsync'].sort().join())
    // the browser asked a random peer, maybe one that was leaving: ask again, now the server
    c.journal.onJoinResponse({ peer: c.journal.peerId, peers: c.journal.peers })
    await waitFor('a late joiner gets the retained tail of the log', () =>
      c.feature('ttttt')?.properties.name === 'fourth')
    c.leave()
  },
  // a `umapsync push` reaches a connected peer live
  async push() {
    const a = new Peer('Ann')
    await a.join()
    execFileSync(process.env.UMAPSYNC, ['push'], { cwd: process.env.REPO, stdio: 'inherit' })
    await waitFor('features pushed over HTTP reach the browser live', () =>
      a.feature(process.env.FEATURE)?.properties.name === process.env.NAME)
    a.leave()
  },
  // a browser's edit, to be pulled by `umapsync pull` afterwards
  async edit() {
    const a = new Peer('Ann')
    await a.join()
    await waitFor('the pushed features reach a joining browser from the log', () =>
      a.feature(process.env.FEATURE) !== undefined)
    a.setProperty(process.env.FEATURE, 'name', process.env.NAME)
    a.addFeature(point('ppppp', 'drawn in a browser', 4.8, 45.75))
    // the edit is durable once the server relays it back from its log
    const b = new Peer('Bob')
    await b.join()
    await waitFor('the edit is in the log', () => b.feature('ppppp') !== undefined)
    a.leave()
    b.leave()
  },
  // tokens uMap would refuse: another secret, another map, no "edit"
  async refused() {
    const bad = await rawJoin(mintToken({ secret: 'not-the-secret' }))
    if (bad.code !== 1008 || bad.kinds.length) throw new Error(`bad token: ${JSON.stringify(bad)}`)
    console.log('ok: a token signed with another key is refused (close 1008)')
    const other = await rawJoin(mintToken({ mapId: 7 }))
    if (other.code !== 1008 || other.kinds.length) throw new Error(`other map: ${JSON.stringify(other)}`)
    console.log('ok: a token for another map is refused (close 1008)')
    const view = await rawJoin(mintToken({ permissions: ['view'] }))
    if (view.code !== 1008 || view.kinds.length) throw new Error(`no edit: ${JSON.stringify(view)}`)
    console.log('ok: a token without "edit" is refused (close 1008)')
    // "raw\u0000peer" would otherwise join as "raw"
    const nul = await rawJoin(mintToken(), MAP, 'raw\u0000peer')
    if (nul.code !== 1008 || nul.kinds.length) throw new Error(`peer id with NUL: ${JSON.stringify(nul)}`)
    console.log('ok: a peer id holding \\u0000 is refused (close 1008)')
    const good = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws/sync/${MAP}`)
      ws.on('open', () => ws.send(JSON.stringify({ kind: 'JoinRequest', token: mintToken(), peer: 'rawpeer' })))
      ws.on('message', (data) => {
        ws.close()
        resolve(JSON.parse(data.toString()).kind)
      })
    })
    if (good !== 'JoinResponse') throw new Error(`good token: ${good}`)
    console.log('ok: a good token joins')
  },
}

const scenario = scenarios[process.argv[2]]
if (!scenario) {
  console.error(`usage: node umap_peers.mjs ${Object.keys(scenarios).join('|')}`)
  process.exit(2)
}
const watchdog = setTimeout(() => {
  console.error('not ok: the scenario took too long')
  process.exit(1)
}, 4 * TIMEOUT_MS)
try {
  await scenario()
  clearTimeout(watchdog)
  process.exit(0)
} catch (err) {
  console.error(`not ok: ${err.message}`)
  process.exit(1)
}
