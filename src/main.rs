//! The `facelite` command: `serve`, `version`, `admin ...`, `analyze IMAGE...`.

fn main() {
    println!("facelite {}", env!("CARGO_PKG_VERSION"));
}
