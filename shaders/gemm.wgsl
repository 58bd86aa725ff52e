// gemm.wgsl: the tiled matrix product C[M,N] = A[M,K] · B[K,N] that every dense
// and convolution kernel shares (convolutions as implicit GEMMs: their A or B
// tile is gathered from the image on the fly, nothing is materialised).
//
// A module built on it defines, next to its entry point:
//   fn gemm_dims() -> vec3<u32>              // (M, N, K), read from a uniform
//   fn load_a(m: u32, k: u32) -> f32         // called only for m < M, k < K
//   fn load_b(k: u32, n: u32) -> f32         // called only for k < K, n < N
//   fn store_c(m: u32, n: u32, acc: f32)     // called only for m < M, n < N
// and an entry point with @workgroup_size(GEMM_WG, GEMM_WG) that calls gemm().
//
// Each workgroup owns a 64×64 tile of C; each of its 16×16 threads owns a 4×4
// block of that tile, strided by 16 so that neighbouring threads read
// neighbouring words of workgroup memory. K advances in slices of 16.
// The bounds checks live here (the tile loads and the final store), because a
// workgroup that returned early could not reach the barriers.

const GEMM_WG: u32 = 16u;
const GEMM_TILE_M: u32 = 64u;
const GEMM_TILE_N: u32 = 64u;
const GEMM_TILE_K: u32 = 16u;
const GEMM_PER_THREAD: u32 = 4u;
const GEMM_THREADS: u32 = 256u;

var<workgroup> gemm_tile_a: array<f32, 1024>; // [TILE_K][TILE_M]
var<workgroup> gemm_tile_b: array<f32, 1024>; // [TILE_K][TILE_N]

fn gemm(group: vec2<u32>, local: vec2<u32>, index: u32) {
    let dims = gemm_dims();
    let m0 = group.y * GEMM_TILE_M;
    let n0 = group.x * GEMM_TILE_N;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < dims.z; k0 += GEMM_TILE_K) {
        for (var i = 0u; i < 4u; i++) {
            let e = index + i * GEMM_THREADS;
            // A: sixteen neighbouring threads walk K, B: sixty-four walk N.
            let am = e / GEMM_TILE_K;
            let ak = e % GEMM_TILE_K;
            var a = 0.0;
            if (m0 + am < dims.x && k0 + ak < dims.z) {
                a = load_a(m0 + am, k0 + ak);
            }
            gemm_tile_a[ak * GEMM_TILE_M + am] = a;
            let bk = e / GEMM_TILE_N;
            let bn = e % GEMM_TILE_N;
            var b = 0.0;
            if (k0 + bk < dims.z && n0 + bn < dims.y) {
                b = load_b(k0 + bk, n0 + bn);
            }
            gemm_tile_b[bk * GEMM_TILE_N + bn] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < GEMM_TILE_K; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < GEMM_PER_THREAD; i++) {
                a[i] = gemm_tile_a[kk * GEMM_TILE_M + local.y + i * GEMM_WG];
                b[i] = gemm_tile_b[kk * GEMM_TILE_N + local.x + i * GEMM_WG];
            }
            for (var i = 0u; i < GEMM_PER_THREAD; i++) {
                for (var j = 0u; j < GEMM_PER_THREAD; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < GEMM_PER_THREAD; i++) {
        for (var j = 0u; j < GEMM_PER_THREAD; j++) {
            let m = m0 + local.y + i * GEMM_WG;
            let n = n0 + local.x + j * GEMM_WG;
            if (m < dims.x && n < dims.y) {
                store_c(m, n, acc[i * 4u + j]);
            }
        }
    }
}
