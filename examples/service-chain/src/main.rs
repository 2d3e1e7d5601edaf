//! Work in progress (issue 10).
fn main() {}
