// gemm_tiled.wgsl: gemm() with its tiles in workgroup memory (see gemm.wgsl).
// Each K slice is loaded once per workgroup, cooperatively, then every thread
// reads its operands from workgroup memory: what hardware GPUs reward.

var<workgroup> gemm_tile_a: array<vec4<f32>, GEMM_TILE_K * GEMM_WG_Y>; // [TILE_K][TILE_M / 4]
var<workgroup> gemm_tile_b: array<vec4<f32>, GEMM_TILE_K * GEMM_WG_X>; // [TILE_K][TILE_N / 4]

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
        // A: neighbouring threads walk K, as a row-major A and a patch's taps
        // lie in memory (coalesced on hardware GPUs), each writing one lane.
        // B: each thread fills a vec4 of four neighbouring columns at one k.
        for (var e = index; e < GEMM_TILE_M * GEMM_TILE_K; e += GEMM_THREADS) {
            let am = e / GEMM_TILE_K;
            let ak = e % GEMM_TILE_K;
            var a = 0.0;
            if (m0 + am < dims.x && k0 + ak < k_end) {
                a = load_a(m0 + am, k0 + ak);
            }
            gemm_tile_a[ak * GEMM_WG_Y + am / 4u][am % 4u] = a;
        }
        for (var v = index; v < GEMM_TILE_K * GEMM_WG_X; v += GEMM_THREADS) {
            let k = k0 + v / GEMM_WG_X;
            let n = n0 + 4u * (v % GEMM_WG_X);
            var b = vec4<f32>(0.0);
            if (k < k_end) {
                if (n < dims.y) { b.x = load_b(k, n); }
                if (n + 1u < dims.y) { b.y = load_b(k, n + 1u); }
                if (n + 2u < dims.y) { b.z = load_b(k, n + 2u); }
                if (n + 3u < dims.y) { b.w = load_b(k, n + 3u); }
            }
            gemm_tile_b[v] = b;
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

