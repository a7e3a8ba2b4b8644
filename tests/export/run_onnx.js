// tests/export/run_onnx.js — runs an ONNX file in ONNX Runtime (onnxruntime-node,
// installed here by tests/integration/test_export.py with npm ci --ignore-scripts).
// usage: node run_onnx.js MODEL.onnx < {"rows": [[...], ...]}
// prints {"output": [[...], ...], "inputs": [...], "outputs": [...]} with the
// session's input and output names and the output dims, for the test to check.
"use strict";
const fs = require("fs");
const ort = require("onnxruntime-node");

async function main() {
	const rows = JSON.parse(fs.readFileSync(0, "utf8")).rows;
	const session = await ort.InferenceSession.create(process.argv[2]);
	const n = rows.length, d = rows[0].length;
	const x = new ort.Tensor("float32", Float32Array.from(rows.flat()), [n, d]);
	const result = await session.run({ input: x });
	const out = result.output;
	const width = out.dims[1];
	const data = Array.from(out.data);
	const output = [];
	for (let i = 0; i < n; i++) output.push(data.slice(i * width, (i + 1) * width));
	process.stdout.write(JSON.stringify({
		output, dims: out.dims, type: out.type,
		inputs: session.inputNames, outputs: session.outputNames,
	}));
}

main().catch((e) => {
	process.stderr.write(String(e && e.stack || e) + "\n");
	process.exit(1);
});
