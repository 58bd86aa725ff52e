//! The CPU backend's threads: work is split into fixed contiguous parts,
//! each computed by one scoped thread, so that results depend only on the
//! thread count. One thread spawns nothing (the browser's build).

/// A raw pointer that may cross to a scoped thread: each thread writes its own
/// rows or columns of one output.
#[derive(Clone, Copy)]
pub struct Shared(pub *mut f32);
// SAFETY: the threads that share one write disjoint parts (see `matmul_threaded`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Elementwise work shorter than this stays on one thread.
const PARALLEL_MIN_LEN: usize = 1 << 15;

/// Runs `f(start, chunk)` over contiguous chunks of `out` on up to
/// `threads` threads (`start`: the chunk's first index in `out`). For
/// elementwise work, whose results do not depend on the split.
pub fn par_chunks_mut<T: Send>(threads: usize, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    let parts = threads.min(out.len() / PARALLEL_MIN_LEN).max(1);
    if parts == 1 {
        return f(0, out);
    }
    let per = out.len().div_ceil(parts);
    let f = &f;
    run_parts(
        out.chunks_mut(per)
            .enumerate()
            .map(|(i, chunk)| move || f(i * per, chunk)),
    );
}

/// Reused working memory for the im2col convolutions, and the number of
/// threads they use (one by default).
#[derive(Debug)]
pub struct Scratch {
    threads: usize,
    /// One im2col buffer per thread.
    cols: Vec<Vec<f32>>,
    /// One partial weight gradient per thread but the first.
    pub partial: Vec<Vec<f32>>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::with_threads(1)
    }
}

impl Scratch {
    /// Convolutions on up to `threads` threads (at least 1), a batch's images split between them.
    pub fn with_threads(threads: usize) -> Scratch {
        Scratch {
            threads: threads.max(1),
            cols: Vec::new(),
            partial: Vec::new(),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// How many threads share `n` images, and how many images each takes.
    pub fn split(&self, n: usize) -> (usize, usize) {
        let per = n.div_ceil(self.threads.min(n).max(1)).max(1);
        (n.div_ceil(per).max(1), per)
    }

    /// `parts` buffers of at least `len` floats; they grow once and then keep their allocation.
    pub fn cols(&mut self, parts: usize, len: usize) -> &mut [Vec<f32>] {
        grow(&mut self.cols, parts, len)
    }
}

pub fn grow(bufs: &mut Vec<Vec<f32>>, parts: usize, len: usize) -> &mut [Vec<f32>] {
    if bufs.len() < parts {
        bufs.resize_with(parts, Vec::new);
    }
    for b in &mut bufs[..parts] {
        if b.len() < len {
            b.resize(len, 0.0);
        }
    }
    &mut bufs[..parts]
}

/// Runs each part, the first on this thread and the others on scoped threads
/// of their own. A single part runs inline: nothing is spawned or allocated
/// (every op of a one-thread step, the browser's).
pub fn run_parts<F: FnOnce() + Send>(mut parts: impl Iterator<Item = F>) {
    let Some(first) = parts.next() else { return };
    match parts.next() {
        None => first(),
        Some(second) => std::thread::scope(|s| {
            s.spawn(second);
            for part in parts {
                s.spawn(part);
            }
            first();
        }),
    }
}
