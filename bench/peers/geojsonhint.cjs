// Peer for `umapsync validate`: @mapbox/geojsonhint (the rules SPEC §4 follows) on each file.
// Run by bench/run.sh with bench/node_modules installed; never used by the build or the tests.
const fs = require('fs');
const geojsonhint = require('@mapbox/geojsonhint');
let status = 0;
for (const file of process.argv.slice(2)) {
  const messages = geojsonhint.hint(fs.readFileSync(file, 'utf8'));
  const errors = messages.filter((m) => m.level !== 'message');
  if (errors.length) status = 1;
  if (messages.length)
    console.log(`${file}: ${errors.length} error(s), ${messages.length - errors.length} warning(s), first: line ${messages[0].line}: ${messages[0].message}`);
}
process.exit(status);
