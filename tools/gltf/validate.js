// Usage: node validate.js FILE.glb -> prints the validator's issue counts as JSON;
// exit code 1 when the file has errors.
const fs = require("fs");
const validator = require("gltf-validator");
const data = new Uint8Array(fs.readFileSync(process.argv[2]));
validator.validateBytes(data).then((report) => {
  console.log(JSON.stringify({ numErrors: report.issues.numErrors, numWarnings: report.issues.numWarnings,
    messages: report.issues.messages.slice(0, 10) }));
  process.exit(report.issues.numErrors > 0 ? 1 : 0);
}).catch((e) => { console.error(String(e)); process.exit(2); });
