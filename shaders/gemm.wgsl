// gemm.wgsl: the tiled matrix product C[M,N] = A[M,K] · B[K,N] that every dense
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
// The tile shape comes from constants prepended by src/backends/gpu/shaders.rs (one
// pipeline per shape): GEMM_WG_X × GEMM_WG_Y threads, each owning a 4×4 block
// of C (4 consecutive rows, 4 consecutive columns) held in four vec4
// registers, and K advancing in slices of GEMM_TILE_K. The tiles live in
// workgroup memory as vec4s along M (A) and N (B), so each step of the inner
// loop is two vec4 loads and four vec4 FMAs: no array is indexed per
// element (which software adapters turn into memory gathers, and hardware
// ones into register spills). Square tiles suit large products, tall and
// wide ones the DCGAN's single-channel convolutions and batch-8 dense layers.
//
// Split-K: when the grid has several z layers, layer z sums its share of K into
// partial[z][M][N], and gemm_reduce (a second dispatch) adds the layers and
// hands the sum to store_c. Weight gradients (small M×N, K = N·H·W) need it
// to keep more than one workgroup busy.
//
// The bounds checks live here (the tile loads and the final store), because a
// workgroup that returned early could not reach the barriers.

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

var<workgroup> gemm_tile_a: array<vec4<f32>, GEMM_TILE_K * GEMM_WG_Y>; // [TILE_K][TILE_M / 4]
var<workgroup> gemm_tile_b: array<vec4<f32>, GEMM_TILE_K * GEMM_WG_X>; // [TILE_K][TILE_N / 4]

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

fn gemm(group: vec3<u32>, local: vec2<u32>, index: u32) {
    let dims = gemm_dims();
    let m0 = group.y * GEMM_TILE_M;
    let n0 = group.x * GEMM_TILE_N;
    let k_begin = group.z * split.chunk;
    let k_end = min(dims.z, k_begin + split.chunk);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = k_begin; k0 < k_end; k0 += GEMM_TILE_K) {
        // A: neighbouring threads walk K; B: they walk N.
        for (var e = index; e < GEMM_TILE_M * GEMM_TILE_K; e += GEMM_THREADS) {
            let am = e / GEMM_TILE_K;
            let ak = e % GEMM_TILE_K;
            var a = 0.0;
            if (m0 + am < dims.x && k0 + ak < k_end) {
                a = load_a(m0 + am, k0 + ak);
            }
            gemm_tile_a[ak * GEMM_WG_Y + am / 4u][am % 4u] = a;
        }
        for (var e = index; e < GEMM_TILE_K * GEMM_TILE_N; e += GEMM_THREADS) {
            let bk = e / GEMM_TILE_N;
            let bn = e % GEMM_TILE_N;
            var b = 0.0;
            if (k0 + bk < k_end && n0 + bn < dims.y) {
                b = load_b(k0 + bk, n0 + bn);
            }
            gemm_tile_b[bk * GEMM_WG_X + bn / 4u][bn % 4u] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < GEMM_TILE_K; kk++) {
            let a = gemm_tile_a[kk * GEMM_WG_Y + local.y];
            let b = gemm_tile_b[kk * GEMM_WG_X + local.x];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }
    let m = m0 + 4u * local.y;
    let n = n0 + 4u * local.x;
    gemm_store_row(group.z, dims, m, n, acc0);
    gemm_store_row(group.z, dims, m + 1u, n, acc1);
    gemm_store_row(group.z, dims, m + 2u, n, acc2);
    gemm_store_row(group.z, dims, m + 3u, n, acc3);
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
