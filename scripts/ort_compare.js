#!/usr/bin/env node
// ort_compare.js - runs an ONNX model with ONNX Runtime on an input .npy and compares each output with DIR/<name>.npy.
//   node ort_compare.js MODEL.onnx INPUT.npy REFDIR TOL
// onnxruntime-node comes from $RETINAFACE_PEERS_CACHE (default /tmp/retinaface-peers), where
// ../shared/peers/setup.sh installs it. Prints one line per output; exit status 1 when a max
// |diff| exceeds TOL or a shape differs, 2 on errors.
'use strict';
const fs = require('fs');
const path = require('path');

const CACHE = process.env.RETINAFACE_PEERS_CACHE || '/tmp/retinaface-peers';

function die(msg) {
  console.error('ort_compare.js: ' + msg);
  process.exit(2);
}

// .npy version 1 or 2, little-endian float32, C order.
function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') die(`${file}: not a .npy file`);
  const v1 = b[6] === 1;
  const hlen = v1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = v1 ? 10 : 12;
  const header = b.toString('latin1', start, start + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) die(`${file}: not little-endian float32`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const body = b.subarray(start + hlen);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)) };
}

async function main() {
  const [model, input, refdir, tolArg] = process.argv.slice(2);
  if (!tolArg) die('usage: node ort_compare.js MODEL.onnx INPUT.npy REFDIR TOL');
  const tol = Number(tolArg);
  let ort;
  try {
    ort = require(require.resolve('onnxruntime-node', { paths: [CACHE] }));
  } catch (e) {
    die(`onnxruntime-node not found under ${CACHE}: run shared/peers/setup.sh`);
  }
  const x = readNpy(input);
  const sess = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
  const out = await sess.run({ data: new ort.Tensor('float32', x.data, x.shape) });
  let bad = false;
  for (const name of sess.outputNames) {
    const ref = readNpy(path.join(refdir, `${name}.npy`));
    const got = out[name];
    if (ref.shape.join('x') !== got.dims.join('x')) {
      console.log(`${name}: ORT shape ${got.dims.join('x')}, ours ${ref.shape.join('x')}`);
      bad = true;
      continue;
    }
    let d = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const e = Math.abs(got.data[i] - ref.data[i]);
      if (!(e <= d)) d = e; // a NaN counts as the largest difference
    }
    console.log(`${name} [${got.dims.join(',')}]: max |diff| ${d.toExponential(2)}${d <= tol ? '' : ` > ${tol}`}`);
    if (!(d <= tol)) bad = true;
  }
  process.exit(bad ? 1 : 0);
}

main().catch((e) => die(e && e.message ? e.message : String(e)));
