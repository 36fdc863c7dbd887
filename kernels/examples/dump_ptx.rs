//! Writes the PTX of every kernel module to the folder given as the first argument (for
//! inspecting register use with `ptxas -v`).
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".to_string());
    for m in maxl_kernels::MODULES {
        match maxl_kernels::compile_module(m, &maxl_kernels::CompileOptions::default()) {
            Ok(ptx) => {
                let path = std::path::Path::new(&dir).join(format!("{}.ptx", m.name));
                if let Err(e) = std::fs::write(&path, ptx) {
                    eprintln!("{}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("{e}"),
        }
    }
}
