// Post-build step (scripts/build.sh): shortens the wasm's name section. worker-build keeps that
// section (wasm-opt --debuginfo) so that stack traces and CPU profiles name Rust functions; the
// function names stay, but
//   - each loses its symbol hash (`::h` and 16 hex digits): sixteen random digits on each of
//     ~2 000 functions are the part of the section gzip cannot shrink, about 24 KB of the
//     bundle's gzip size (docs/performance.md); a name that differed from another only by its
//     hash now reads the same, and a profile or a trace still names the function;
//   - the data segments' names (`.rodata.24`, subsection 9) go: no trace or profile shows them.
// Running it again changes nothing.
import fs from 'node:fs';

const file = process.argv[2] ?? 'build/index_bg.wasm';
const HASH = /::h[0-9a-f]{16}$/;
// Subsection ids of the name section (the WebAssembly extended name section).
const FUNCTION_NAMES = 1;
const DATA_NAMES = 9;

function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

function withLength(bytes) {
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** The function-names subsection with each name's hash dropped. */
function shortenFunctionNames(sub) {
  let [count, at] = readU32(sub, 0);
  const parts = [u32(count)];
  for (; count > 0; count--) {
    let index;
    let length;
    [index, at] = readU32(sub, at);
    [length, at] = readU32(sub, at);
    const name = sub.subarray(at, at + length).toString('utf8').replace(HASH, '');
    at += length;
    parts.push(u32(index), withLength(Buffer.from(name, 'utf8')));
  }
  if (at !== sub.length) throw new Error('function names subsection: trailing bytes');
  return Buffer.concat(parts);
}

/** The `name` custom section's payload (after its name): function names shortened, data names dropped. */
function shortenNameSection(payload) {
  const parts = [];
  let at = 0;
  while (at < payload.length) {
    const id = payload[at++];
    let length;
    [length, at] = readU32(payload, at);
    const sub = payload.subarray(at, at + length);
    at += length;
    if (id === DATA_NAMES) continue;
    parts.push(Buffer.from([id]), withLength(id === FUNCTION_NAMES ? shortenFunctionNames(sub) : sub));
  }
  return Buffer.concat(parts);
}

const wasm = fs.readFileSync(file);
if (wasm.readUInt32BE(0) !== 0x0061736d) throw new Error(`${file} is not a wasm module`);
const parts = [wasm.subarray(0, 8)];
let at = 8;
let named = false;
while (at < wasm.length) {
  const sectionStart = at;
  const id = wasm[at];
  const [length, start] = readU32(wasm, at + 1);
  const body = wasm.subarray(start, start + length);
  at = start + length;
  if (id === 0) {
    const [nameLength, nameStart] = readU32(body, 0);
    if (body.subarray(nameStart, nameStart + nameLength).toString('utf8') === 'name') {
      named = true;
      const head = body.subarray(0, nameStart + nameLength);
      parts.push(Buffer.from([0]), withLength(Buffer.concat([head, shortenNameSection(body.subarray(head.length))])));
      continue;
    }
  }
  parts.push(wasm.subarray(sectionStart, at));
}
if (!named) throw new Error(`${file} has no name section: the build no longer keeps it (see this script's header)`);
const out = Buffer.concat(parts);
if (!out.equals(wasm)) fs.writeFileSync(file, out);
