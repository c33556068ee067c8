//! The `toolpulse` binary: parses the command line and hands over to the crates.

mod allocator;
mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    allocator::keep_freed_memory_longer();
    allocator::without_transparent_huge_pages();
    let cli = cli::Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _telemetry = {
        let _in_runtime = rt.enter();
        toolpulse_serve::telemetry::init()
    };
    rt.block_on(cli.run())
}
