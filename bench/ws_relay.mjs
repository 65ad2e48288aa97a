// Relay latency, durability and idle memory of `umapsync serve --umap-secret-file` with many uMap
// peers on many maps (bench/ws_relay.sh starts the server and runs the two modes):
//   node ws_relay.mjs run PORT SERVER_PID TOKENS.json RECEIVED.json [PEERS=200] [MAPS=20] [RATE=1000] [SECONDS=10]
//     measures the server's RSS alone, joins PEERS raw websocket peers spread over MAPS maps
//     (TOKENS.json: {map: token}), measures RSS again (idle peers), then one peer per map sends
//     OperationMessages, RATE per second in all, for SECONDS; every other peer of that map notes
//     how long each took to arrive. Each op is appended to the op log (fsync'd) before it is
//     relayed; RECEIVED.json gets every op a peer received, for `verify`.
//   node ws_relay.mjs verify PORT RECEIVED.json
//     after the server was killed with SIGKILL and started again on the same data: every op a
//     peer received must be in the map's log (GET /v1/maps/{map}/pull).
// Needs `ws` (run from a directory whose node_modules has it, e.g. build/umap-js).
import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const [mode, port, ...rest] = process.argv.slice(2)

if (mode === 'verify') {
  const received = JSON.parse(readFileSync(rest[0], 'utf8'))
  let missing = 0
  let checked = 0
  for (const [map, ns] of Object.entries(received)) {
    const logged = new Set()
    for (let since = 0; ; ) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/maps/${map}/pull?since=${since}&limit=10000`)
      if (!res.ok) throw new Error(`pull ${map}: HTTP ${res.status}`)
      const body = await res.json()
      for (const op of body.ops) if (op.value && typeof op.value.n === 'number') logged.add(op.value.n)
      since = body.cursor
      if (!body.more) break
    }
    for (const n of ns) {
      checked++
      if (!logged.has(n)) missing++
    }
  }
  console.log(`durable: ${checked - missing}/${checked} relayed ops in the log after SIGKILL and restart`)
  process.exit(missing ? 1 : 0)
}

const require = createRequire(`${process.cwd()}/package.json`)
const WebSocket = require('ws')
const [serverPid, tokensFile, receivedFile] = rest
const [peers = 200, maps = 20, rate = 1000, seconds = 10] = rest.slice(3).map(Number)
const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'))
const mapIds = Object.keys(tokens).slice(0, maps)

const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${serverPid}/status`, 'utf8'))[1])

const latencies = []
const received = Object.fromEntries(mapIds.map((m) => [m, new Set()]))
await sleep(500)
const rss0 = rssKiB()
const joins = []
for (let i = 0; i < peers; i++) {
  const map = mapIds[i % mapIds.length]
  const name = `p${i}`
  joins.push(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/sync/${map}`)
      ws.on('open', () => ws.send(JSON.stringify({ kind: 'JoinRequest', token: tokens[map], peer: name })))
      ws.on('message', (data) => {
        const text = data.toString()
        if (text === 'ping') return ws.send('pong')
        const msg = JSON.parse(text)
        if (msg.kind === 'JoinResponse') resolve({ ws, map, name })
        if (msg.kind === 'OperationMessage' && msg.sender !== name && msg.value?.t) {
          latencies.push(performance.now() - msg.value.t)
          received[map].add(msg.value.n)
        }
      })
      ws.on('error', reject)
    })
  )
}
const sockets = await Promise.all(joins)
await sleep(1000)
const rss1 = rssKiB()
console.log(
  `idle: server RSS ${(rss0 / 1024).toFixed(1)} MiB alone, ${(rss1 / 1024).toFixed(1)} MiB with ${peers} peers: ` +
    `${((rss1 - rss0) / peers).toFixed(1)} KiB per idle peer`
)

// one sender per map; the others listen. Ops go out in ticks of 10 ms, spread over the maps.
const senders = mapIds.map((m) => sockets.find((s) => s.map === m))
const listeners = Object.fromEntries(mapIds.map((m) => [m, sockets.filter((s) => s.map === m).length - 1]))
const total = rate * seconds
const start = performance.now()
for (let n = 0; n < total; n++) {
  const due = start + (n * 1000) / rate
  const wait = due - performance.now()
  if (wait > 1) await sleep(wait)
  const s = senders[n % senders.length]
  s.ws.send(
    JSON.stringify({
      kind: 'OperationMessage', sender: s.name, verb: 'update', subject: 'map', metadata: {},
      key: 'properties.n', value: { t: performance.now(), n }, hlc: `${Date.now()}:${n % 100}:${s.name}`,
    })
  )
}
const sentIn = (performance.now() - start) / 1000
let want = 0
for (let n = 0; n < total; n++) want += listeners[senders[n % senders.length].map]
while (latencies.length < want && performance.now() - start < (seconds + 60) * 1000) await sleep(50)
latencies.sort((a, b) => a - b)
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(1)
console.log(
  `relay: ${peers} peers on ${mapIds.length} maps, ${total} ops in ${sentIn.toFixed(1)} s (${(total / sentIn).toFixed(0)}/s): ` +
    `${latencies.length}/${want} deliveries; latency ms p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)}`
)
writeFileSync(receivedFile, JSON.stringify(Object.fromEntries(mapIds.map((m) => [m, [...received[m]]]))))
for (const s of sockets) s.ws.close()
await sleep(200)
process.exit(latencies.length === want ? 0 : 1)
