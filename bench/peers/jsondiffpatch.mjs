// Peer for `umapsync diff`: jsondiffpatch with features matched by id (objectHash), delta as JSON.
// Run by bench/run.sh with bench/node_modules installed; never used by the build or the tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const require = createRequire(import.meta.url);
const { create } = await import(pathToFileURL(require.resolve('jsondiffpatch')).href);
const [a, b] = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')));
const differ = create({ objectHash: (o, i) => (o && o.id !== undefined ? String(o.id) : '$$index:' + i) });
const delta = differ.diff(a, b);
process.stdout.write(JSON.stringify(delta ?? {}) + '\n');
process.exit(delta ? 1 : 0);
