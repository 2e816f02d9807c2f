// SPDX-License-Identifier: Apache-2.0
// Runs an ONNX model in ONNX Runtime (onnxruntime-web's wasm backend, in Node, one thread)
// and compares its outputs with expected ones.  Used by the tests of gluino's ONNX export.
//
//   node tools/onnx/ort_compare.mjs MODEL.onnx IO.json [--atol 1e-4]
//   node tools/onnx/ort_compare.mjs MODEL.onnx IO.json --print
//
// IO.json: {"inputs":  [{"name": "data", "shape": [2,1,28,28], "data": [floats...]}],
//           "outputs": [{"name": "...",  "shape": [2,10],      "data": [floats...]}]}
// Inputs are fed by name as float32 tensors.  Expected outputs are matched by position in the
// model's output list (names may differ); each must have ORT's shape and a max abs difference
// <= atol.  --print writes ORT's outputs to stdout as {"outputs": [...]} instead of comparing
// ("outputs" in IO.json may then be absent).
// Exit status: 0 all outputs match, 1 some output differs, 2 usage, file or model error.
// Needs `npm ci` (or `npm install`) in tools/onnx once; works from any working directory.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const usage = 'usage: node ort_compare.mjs MODEL.onnx IO.json [--atol 1e-4] [--print]';

// An error of the command line, the files or the model: exit status 2, no stack trace.
class UsageError extends Error {
  constructor(msg, show_usage = false) {
    super(msg);
    this.show_usage = show_usage;
  }
}

function fail(msg, show_usage = false) {
  throw new UsageError(msg, show_usage);
}

function parse_args(argv) {
  const args = { model: null, io: null, atol: 1e-4, print: false };
  const positional = [];
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--print') {
      args.print = true;
    } else if (a === '--atol' || a.startsWith('--atol=')) {
      const text = a === '--atol' ? argv[++i] : a.slice('--atol='.length);
      if (text === undefined) fail('--atol needs a value', true);
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v) || v < 0) {
        fail(`--atol must be a finite number >= 0, got '${text}'`, true);
      }
      args.atol = v;
    } else if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    } else if (a.startsWith('-') && a !== '-') {
      fail(`unknown option '${a}'`, true);
    } else {
      positional.push(a);
    }
  }
  if (positional.length !== 2) {
    fail(`expected MODEL.onnx and IO.json, got ${positional.length} file argument(s)`, true);
  }
  [args.model, args.io] = positional;
  return args;
}

// C printf's %.<digits>e: 3.1e-07, not JS's 3.1e-7.
function exp_text(x, digits) {
  if (!Number.isFinite(x)) return String(x);
  const s = digits === undefined ? x.toExponential() : x.toExponential(digits);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function shape_text(shape) {
  return `[${shape.join(',')}]`;
}

// Checks one {"name", "shape", "data"} entry of IO.json; `where` names it in messages.
function check_tensor(t, where, file) {
  if (t === null || typeof t !== 'object') fail(`${file}: ${where} is not an object`);
  if (typeof t.name !== 'string') fail(`${file}: ${where} has no string "name"`);
  const shape = t.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(`${file}: ${where} (${t.name}): "shape" must be an array of integers >= 0`);
  }
  if (!Array.isArray(t.data) || !t.data.every((v) => typeof v === 'number')) {
    fail(`${file}: ${where} (${t.name}): "data" must be an array of numbers`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    fail(`${file}: ${where} (${t.name}): shape ${shape_text(shape)} holds ${count} values, "data" has ${t.data.length}`);
  }
}

function read_io(file, need_outputs) {
  let io;
  try {
    io = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  if (io === null || typeof io !== 'object' || !Array.isArray(io.inputs)) {
    fail(`${file}: expected an object with an "inputs" array`);
  }
  io.inputs.forEach((t, i) => check_tensor(t, `input ${i}`, file));
  if (need_outputs) {
    if (!Array.isArray(io.outputs)) fail(`${file}: expected an "outputs" array`);
    io.outputs.forEach((t, i) => check_tensor(t, `output ${i}`, file));
  }
  return io;
}

async function load_ort() {
  // Resolve onnxruntime-web from this script's folder, not the working directory.
  const require = createRequire(import.meta.url);
  const dir = path.dirname(fileURLToPath(import.meta.url));
  let entry;
  let ort;
  try {
    entry = require.resolve('onnxruntime-web');
    ort = await import('onnxruntime-web');
  } catch (e) {
    fail(`cannot load onnxruntime-web from ${path.join(dir, 'node_modules')} (${e.message.split('\n')[0]}): run 'npm ci' in ${dir}`);
  }
  // Load the .wasm from node_modules (no network), on this thread: no workers, no proxy.
  ort.env.wasm.wasmPaths = pathToFileURL(path.dirname(entry) + path.sep).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return ort;
}

// Max |a - b| and where; a NaN on one side only counts as an infinite difference.
function max_abs_diff(got, want) {
  let max = 0;
  let at = -1;
  for (let i = 0; i < want.length; ++i) {
    const g = got[i];
    const w = want[i];
    let d = 0;
    if (g !== w && !(Number.isNaN(g) && Number.isNaN(w))) {
      d = Math.abs(g - w);
      if (Number.isNaN(d)) d = Infinity;  // NaN against a number
    }
    if (d > max || at < 0) {
      max = d;
      at = i;
    }
  }
  return { max, at };
}

function to_numbers(tensor) {
  // float32 converts exactly; int64 comes back as BigInt.
  return Array.from(tensor.data, (v) => Number(v));
}

async function main() {
  const args = parse_args(process.argv.slice(2));
  const io = read_io(args.io, !args.print);
  const ort = await load_ort();

  let model_bytes;
  try {
    model_bytes = readFileSync(args.model);
  } catch (e) {
    fail(`cannot read ${args.model}: ${e.message}`);
  }
  let session;
  try {
    session = await ort.InferenceSession.create(new Uint8Array(model_bytes));
  } catch (e) {
    fail(`ONNX Runtime cannot load ${args.model}: ${e.message ?? e}`);
  }

  const feeds = {};
  for (const t of io.inputs) {
    if (!session.inputNames.includes(t.name)) {
      fail(`${args.io}: input '${t.name}' is not an input of ${args.model} (it has: ${session.inputNames.join(', ')})`);
    }
    feeds[t.name] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length > 0) fail(`${args.io}: no data for input(s) ${missing.join(', ')} of ${args.model}`);

  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    fail(`ONNX Runtime failed to run ${args.model} on ${args.io}: ${e.message ?? e}`);
  }
  const outputs = session.outputNames.map((name) => ({ name, tensor: results[name] }));

  if (args.print) {
    const json = outputs.map(({ name, tensor }) => ({
      name,
      shape: tensor.dims.map(Number),
      data: to_numbers(tensor),  // NaN and infinities become null in JSON
    }));
    process.stdout.write(JSON.stringify({ outputs: json }) + '\n');
    return 0;
  }

  let bad = 0;
  if (io.outputs.length !== outputs.length) {
    console.log(`${args.model} has ${outputs.length} output(s), ${args.io} expects ${io.outputs.length}: MISMATCH`);
    ++bad;
  }
  const n = Math.min(io.outputs.length, outputs.length);
  for (let i = 0; i < n; ++i) {
    const { name, tensor } = outputs[i];
    const want = io.outputs[i];
    const shape = tensor.dims.map(Number);
    const head = `output ${i} (${name}): shape ${shape_text(shape)}`;
    if (shape_text(shape) !== shape_text(want.shape)) {
      console.log(`${head}, expected ${shape_text(want.shape)}: MISMATCH`);
      ++bad;
      continue;
    }
    const got = to_numbers(tensor);
    const { max, at } = max_abs_diff(got, want.data);
    const line = `${head}, max abs diff ${exp_text(max, 1)} (atol ${exp_text(args.atol)})`;
    if (max <= args.atol) {
      console.log(`${line}: ok`);
    } else {
      console.log(`${line}: MISMATCH (at flat index ${at}: ort ${got[at]}, expected ${want.data[at]})`);
      ++bad;
    }
  }
  if (bad > 0) console.log(`${bad} mismatch(es) between ${args.model} run in ONNX Runtime and ${args.io}`);
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`ort_compare: ${e instanceof UsageError ? e.message : e?.stack ?? e}`);
    if (e instanceof UsageError && e.show_usage) console.error(usage);
    process.exit(2);
  },
);
