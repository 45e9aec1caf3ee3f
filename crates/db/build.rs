//! `embed_migrations!` reads `migrations/` at compile time but does not tell Cargo so: without
//! this, a migration added to an already-built tree would silently not be embedded.

fn main() {
    // A directory: Cargo rebuilds when any file under it changes, or one is added.
    println!("cargo:rerun-if-changed=../../migrations");
}
