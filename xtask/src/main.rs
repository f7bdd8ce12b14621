//! Klamm's task runner.
fn main() {}
