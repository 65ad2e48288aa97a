// Peer for `umapsync validate`: @placemarkio/check-geojson on one file; exit 1 with its issues when invalid.
// Run by bench/run.sh with bench/node_modules installed; never used by the build or the tests.
const fs = require('fs');
const { check } = require('@placemarkio/check-geojson');
let status = 0;
for (const file of process.argv.slice(2)) {
  try {
    check(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    status = 1;
    const issues = e.issues || [{ message: String(e.message || e) }];
    console.log(`${file}: ${issues.length} issue(s), first: ${issues[0].message}`);
  }
}
process.exit(status);
