#!/usr/bin/env node
/* Validates a glTF 2.0 file (.glb, or .gltf with embedded buffers) with the Khronos glTF-Validator
   (npm gltf-validator, pinned in .tools/package.json; scripts/install-gltf-validator.sh installs it)
   and prints its report as JSON on stdout. Exit status: 0 when the report has no errors, 1 when it
   has some, 2 when the file cannot be read or the validator is not installed.

     node scripts/validate-gltf.js take.glb | python -m json.tool */
"use strict";
const fs = require("fs");
const path = require("path");

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/validate-gltf.js FILE.glb");
  process.exit(2);
}
let validator;
try {
  validator = require(path.join(__dirname, "..", ".tools", "node_modules", "gltf-validator"));
} catch (err) {
  console.error("gltf-validator is not installed: run bash scripts/install-gltf-validator.sh");
  process.exit(2);
}
let bytes;
try {
  bytes = new Uint8Array(fs.readFileSync(file));
} catch (err) {
  console.error(`cannot read ${file}: ${err.message}`);
  process.exit(2);
}
validator
  .validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 200, // the first 200 are plenty to fix a writer; the counts cover all of them
    externalResourceFunction: (uri) => Promise.reject(new Error(`external resource ${uri}: not read`)),
  })
  .then((report) => {
    process.stdout.write(JSON.stringify(report, null, 1) + "\n");
    process.exit(report.issues.numErrors > 0 ? 1 : 0);
  })
  .catch((err) => {
    console.error(`validation failed: ${err}`);
    process.exit(2);
  });
