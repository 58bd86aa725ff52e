// gemm.wgsl: the matrix product C[M,N] = A[M,K] · B[K,N] that every dense
// and convolution kernel shares (convolutions as implicit GEMMs: their A or B
// tile is gathered from the image on the fly, nothing is materialised).
//
// A module built on it defines, next to its entry point:
//   fn gemm_dims() -> vec3<u32>              // (M, N, K), read from a uniform
//   fn load_a(m: u32, k: u32) -> f32         // called only for m < M, k < K
//   fn load_b(k: u32, n: u32) -> f32         // called only for k < K, n < N
//   fn store_c(m: u32, n: u32, acc: f32)     // called only for m < M, n < N
// and an entry point with @workgroup_size(GEMM_WG_X, GEMM_WG_Y) that calls
// gemm(). Bindings 1 and 2 are read by load_a/load_b only; store_c may use
// any other binding but 7 and 8, which belong to this file.
//
// gemm() itself follows this file, in one of two forms, chosen per product by
// Tile::choose (src/backends/gpu/shaders.rs, one pipeline per form):
// gemm_tiled.wgsl (K slices shared through workgroup memory; large products)
// and gemm_direct.wgsl (no workgroup memory, no barriers; skinny products).
// In both, GEMM_WG_X × GEMM_WG_Y threads each own a 4×4 block of C (4
// consecutive rows, 4 consecutive columns) held in four vec4 registers, so
// each step of the inner loop is four vec4 FMAs and no array is indexed per
// element (which software adapters turn into memory gathers, and hardware
// ones into register spills).
//
// Split-K: when the grid has several z layers, layer z sums its share of K into
// partial[z][M][N], and gemm_reduce (a second dispatch) adds the layers and
// hands the sum to store_c. Weight gradients (small M×N, K = N·H·W) need it
// to keep more than one workgroup busy.
//
// The bounds checks live in gemm() and gemm_store (the loads and the final
// store), because a workgroup that returned early could not reach the barriers.

const GEMM_TILE_M: u32 = GEMM_WG_Y * 4u;
const GEMM_TILE_N: u32 = GEMM_WG_X * 4u;
const GEMM_THREADS: u32 = GEMM_WG_X * GEMM_WG_Y;

struct GemmSplit {
    splits: u32, // number of z layers; 1 ⇒ store directly
    chunk: u32,  // K per layer, a multiple of GEMM_TILE_K
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
@group(0) @binding(8) var<uniform> split: GemmSplit;


// One output of the tile: to the split-K scratch, or through store_c.
fn gemm_store(z: u32, dims: vec3<u32>, m: u32, n: u32, v: f32) {
    if (m < dims.x && n < dims.y) {
        if (split.splits > 1u) {
            partial[(z * dims.x + m) * dims.y + n] = v;
        } else {
            store_c(m, n, v);
        }
    }
}

// Row m of the thread's block: its four columns n..n+3.
fn gemm_store_row(z: u32, dims: vec3<u32>, m: u32, n: u32, v: vec4<f32>) {
    gemm_store(z, dims, m, n, v.x);
    gemm_store(z, dims, m, n + 1u, v.y);
    gemm_store(z, dims, m, n + 2u, v.z);
    gemm_store(z, dims, m, n + 3u, v.w);
}

// C[m,n] ← store_c(Σ_z partial[z][m][n]), after a split-K gemm.
@compute @workgroup_size(WG)
fn gemm_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let dims = gemm_dims();
    let i = (wg.y * nwg.x + wg.x) * WG + li;
    if (i >= dims.x * dims.y) { return; }
    var s = 0.0;
    for (var z = 0u; z < split.splits; z++) {
        s += partial[z * dims.x * dims.y + i];
    }
    store_c(i / dims.y, i % dims.y, s);
}
