// Relay latency of `umapsync serve --umap-secret-file` with many uMap peers on one map: N raw
// websocket peers join with one token, one of them sends OPS OperationMessages (each appended
// to the op log, fsync'd, then relayed), and every peer notes how long each took to arrive.
// Usage: node bench/ws_relay.mjs PORT TOKEN [PEERS=200] [OPS=300] [RATE=50/s]; needs `ws`
// (NODE_PATH-free: run from a directory whose node_modules has it, e.g. build/umap-js).
import { createRequire } from 'node:module'
const require = createRequire(`${process.cwd()}/package.json`)
const WebSocket = require('ws')
const [port, token, peers = 200, ops = 300, rate = 50] = process.argv.slice(2).map((v, i) => (i < 2 ? v : Number(v)))

const latencies = []
const open = []
for (let i = 0; i < peers; i++) {
  open.push(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/sync/bench`)
      ws.on('open', () => ws.send(JSON.stringify({ kind: 'JoinRequest', token, peer: `p${i}` })))
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString())
        if (msg.kind === 'JoinResponse') resolve(ws)
        if (msg.kind === 'OperationMessage' && msg.sender !== `p${i}`) latencies.push(performance.now() - msg.value.t)
      })
      ws.on('error', reject)
    })
  )
}
const sockets = await Promise.all(open)
const start = performance.now()
for (let n = 0; n < ops; n++) {
  sockets[0].send(
    JSON.stringify({
      kind: 'OperationMessage', sender: 'p0', verb: 'update', subject: 'map', metadata: {},
      key: 'properties.n', value: { t: performance.now(), n }, hlc: `${Date.now()}:${n}:bench`,
    })
  )
  await new Promise((r) => setTimeout(r, 1000 / rate))
}
const want = ops * (peers - 1)
while (latencies.length < want && performance.now() - start < 120000) await new Promise((r) => setTimeout(r, 50))
latencies.sort((a, b) => a - b)
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1)
console.log(`${peers} peers, ${ops} ops at ${rate}/s: ${latencies.length}/${want} deliveries; latency ms p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)}`)
for (const s of sockets) s.close()
