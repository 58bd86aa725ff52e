//! The `genlab` command line.
fn main() {}
