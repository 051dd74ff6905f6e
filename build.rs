// The migrations are embedded in the binary (`embed_migrations!`): a new or changed one must
// rebuild the crate, which cargo does not know without being told.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
