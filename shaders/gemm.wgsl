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
// pipeline per shape): GEMM_WG_X × GEMM_WG_Y threads, each owning GEMM_TM × GEMM_TN
// outputs strided by the workgroup size (so neighbouring threads read
// neighbouring words of workgroup memory), and K advancing in slices of
// GEMM_TILE_K. Square tiles suit large products, tall and wide ones the DCGAN's
// single-channel convolutions and batch-8 dense layers.
//
// Split-K: when the grid has several z layers, layer z sums its share of K into
// partial[z][M][N], and gemm_reduce (a second dispatch) adds the layers and
// hands the sum to store_c. Weight gradients (small M×N, K = N·H·W) need it
// to keep more than one workgroup busy.
//
// The bounds checks live here (the tile loads and the final store), because a
// workgroup that returned early could not reach the barriers.

const GEMM_TILE_M: u32 = GEMM_WG_Y * GEMM_TM;
const GEMM_TILE_N: u32 = GEMM_WG_X * GEMM_TN;
const GEMM_THREADS: u32 = GEMM_WG_X * GEMM_WG_Y;

struct GemmSplit {
    splits: u32, // number of z layers; 1 ⇒ store directly
    chunk: u32,  // K per layer, a multiple of GEMM_TILE_K
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
@group(0) @binding(8) var<uniform> split: GemmSplit;

var<workgroup> gemm_tile_a: array<f32, GEMM_TILE_K * GEMM_TILE_M>; // [TILE_K][TILE_M]
var<workgroup> gemm_tile_b: array<f32, GEMM_TILE_K * GEMM_TILE_N>; // [TILE_K][TILE_N]

fn gemm(group: vec3<u32>, local: vec2<u32>, index: u32) {
    let dims = gemm_dims();
    let m0 = group.y * GEMM_TILE_M;
    let n0 = group.x * GEMM_TILE_N;
    let k_begin = group.z * split.chunk;
    let k_end = min(dims.z, k_begin + split.chunk);
    var acc: array<f32, GEMM_TM * GEMM_TN>;
    for (var k0 = k_begin; k0 < k_end; k0 += GEMM_TILE_K) {
        // A: neighbouring threads walk K; B: they walk N.
        for (var e = index; e < GEMM_TILE_M * GEMM_TILE_K; e += GEMM_THREADS) {
            let am = e / GEMM_TILE_K;
            let ak = e % GEMM_TILE_K;
            var a = 0.0;
            if (m0 + am < dims.x && k0 + ak < k_end) {
                a = load_a(m0 + am, k0 + ak);
            }
            gemm_tile_a[ak * GEMM_TILE_M + am] = a;
        }
        for (var e = index; e < GEMM_TILE_K * GEMM_TILE_N; e += GEMM_THREADS) {
            let bk = e / GEMM_TILE_N;
            let bn = e % GEMM_TILE_N;
            var b = 0.0;
            if (k0 + bk < k_end && n0 + bn < dims.y) {
                b = load_b(k0 + bk, n0 + bn);
            }
            gemm_tile_b[bk * GEMM_TILE_N + bn] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < GEMM_TILE_K; kk++) {
            var a: array<f32, GEMM_TM>;
            var b: array<f32, GEMM_TN>;
            for (var i = 0u; i < GEMM_TM; i++) {
                a[i] = gemm_tile_a[kk * GEMM_TILE_M + local.y + i * GEMM_WG_Y];
            }
            for (var j = 0u; j < GEMM_TN; j++) {
                b[j] = gemm_tile_b[kk * GEMM_TILE_N + local.x + j * GEMM_WG_X];
            }
            for (var i = 0u; i < GEMM_TM; i++) {
                for (var j = 0u; j < GEMM_TN; j++) {
                    acc[i * GEMM_TN + j] = fma(a[i], b[j], acc[i * GEMM_TN + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < GEMM_TM; i++) {
        for (var j = 0u; j < GEMM_TN; j++) {
            let m = m0 + local.y + i * GEMM_WG_Y;
            let n = n0 + local.x + j * GEMM_WG_X;
            if (m < dims.x && n < dims.y) {
                if (split.splits > 1u) {
                    partial[(group.z * dims.x + m) * dims.y + n] = acc[i * GEMM_TN + j];
                } else {
                    store_c(m, n, acc[i * GEMM_TN + j]);
                }
            }
        }
    }
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
