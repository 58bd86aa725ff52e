// gemm_direct.wgsl: gemm() without workgroup memory or barriers (see gemm.wgsl).
// Each thread reads its own 4 rows of A and 4 columns of B from storage at
// every k. Software adapters (SwiftShader, lavapipe) run a workgroup's
// invocations on one CPU thread and pay dearly for barriers, and to them
// storage and workgroup memory are both just cached memory.

fn gemm(group: vec3<u32>, local: vec2<u32>, index: u32) {
    let dims = gemm_dims();
    let m = group.y * GEMM_TILE_M + 4u * local.y;
    let n = group.x * GEMM_TILE_N + 4u * local.x;
    let k_begin = group.z * split.chunk;
    let k_end = min(dims.z, k_begin + split.chunk);
    // Rows and columns past the edge read row (column) 0 and are never stored.
    let m1 = select(m, m + 1u, m + 1u < dims.x);
    let m2 = select(m, m + 2u, m + 2u < dims.x);
    let m3 = select(m, m + 3u, m + 3u < dims.x);
    let n1 = select(n, n + 1u, n + 1u < dims.y);
    let n2 = select(n, n + 2u, n + 2u < dims.y);
    let n3 = select(n, n + 3u, n + 3u < dims.y);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    if (m < dims.x && n < dims.y) {
        for (var k = k_begin; k < k_end; k++) {
            let b = vec4<f32>(load_b(k, n), load_b(k, n1), load_b(k, n2), load_b(k, n3));
            acc0 = fma(vec4<f32>(load_a(m, k)), b, acc0);
            acc1 = fma(vec4<f32>(load_a(m1, k)), b, acc1);
            acc2 = fma(vec4<f32>(load_a(m2, k)), b, acc2);
            acc3 = fma(vec4<f32>(load_a(m3, k)), b, acc3);
        }
    }
    gemm_store_row(group.z, dims, m, n, acc0);
    gemm_store_row(group.z, dims, m + 1u, n, acc1);
    gemm_store_row(group.z, dims, m + 2u, n, acc2);
    gemm_store_row(group.z, dims, m + 3u, n, acc3);
}
