//! `toolpulse slo validate DIR`: checks SLO spec files and reports each problem
//! as `file:line: reason`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SloArgs {
    #[command(subcommand)]
    command: SloCommand,
}

#[derive(clap::Subcommand)]
enum SloCommand {
    /// Check the SLO specs of a directory (or one file).
    Validate {
        /// A directory of `*.yaml` specs, or one spec file.
        path: PathBuf,
    },
}

pub fn run(a: SloArgs) -> anyhow::Result<()> {
    match a.command {
        SloCommand::Validate { path } => {
            let loaded = if path.is_dir() { toolpulse_slo::spec::load_dir(&path) } else { toolpulse_slo::spec::load_file(&path) };
            match loaded {
                Ok(specs) => {
                    for s in &specs {
                        println!(
                            "{}: {} {} objective {} over {:?} ({} alert window pairs) from {}",
                            s.name,
                            s.sli.kind_name(),
                            s.selector.promql_matchers(),
                            s.objective,
                            s.period,
                            s.alerting.windows.len(),
                            s.source
                        );
                    }
                    println!("ok: {} SLOs", specs.len());
                    Ok(())
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    anyhow::bail!("{} problem(s) in {}", errors.len(), path.display())
                }
            }
        }
    }
}
