//! The `toolpulse` binary: parses the command line and hands over to the crates.

mod cli;

use clap::Parser;

/// mimalloc reuses freed memory instead of returning big buffers to the kernel
/// and faulting them in again (10% of a bulk import's time with glibc malloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _telemetry = {
        let _in_runtime = rt.enter();
        toolpulse_serve::telemetry::init()
    };
    rt.block_on(cli.run())
}
