// reduce.wgsl: a WG-thread workgroup sum, prepended to the kernels that reduce
// (bias gradients, batch norm statistics, losses). Every thread of the
// workgroup must call it (it contains barriers).

var<workgroup> reduce_scratch: array<f32, WG>;

fn workgroup_sum(v: f32, local: u32) -> f32 {
    reduce_scratch[local] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (local < s) {
            reduce_scratch[local] += reduce_scratch[local + s];
        }
        workgroupBarrier();
    }
    let total = reduce_scratch[0];
    workgroupBarrier(); // the next call may overwrite the scratch
    return total;
}
