//! `versus-fuzz`: runs the fuzz targets for a bounded time.
//!
//! ```text
//! cargo run --release -p versus-fuzz -- [--seconds N] [--seed S] [TARGET...]
//! ```
//!
//! Each target runs for N seconds (default 20) from seed S (default: the clock). A crash
//! prints the target, the reason and the input (also written to
//! `crates/fuzz/regressions/<target>/crash-<hash>.bin`, which `tests/regressions.rs` then
//! replays on every test run: commit it with the fix) and exits 1.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut seconds = 20u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => seconds = v,
                None => return usage("--seconds needs a number"),
            },
            "--seed" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => seed = v,
                None => return usage("--seed needs a number"),
            },
            "-h" | "--help" => return usage(""),
            other => only.push(other.to_string()),
        }
    }
    let targets = versus_fuzz::targets();
    if let Some(unknown) = only
        .iter()
        .find(|t| !targets.iter().any(|(name, _, _)| name == t))
    {
        return usage(&format!("no target named {unknown}"));
    }
    // Panics are expected inside the targets' `catch_unwind`; keep the output to our report.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, target, seeds) in targets {
        if !only.is_empty() && !only.iter().any(|t| t == name) {
            continue;
        }
        match versus_fuzz::run(target, &seeds, seed, Duration::from_secs(seconds), u64::MAX) {
            Ok(tried) => eprintln!("{name}: {tried} inputs, no crash (seed {seed})"),
            Err(crash) => {
                failed = true;
                let hash = crash.input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
                });
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("regressions")
                    .join(name);
                let path = dir.join(format!("crash-{hash:016x}.bin"));
                let saved = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(&path, &crash.input))
                    .is_ok();
                eprintln!(
                    "{name}: CRASH (seed {seed}): {}\ninput: {}\n{}",
                    crash.reason,
                    String::from_utf8_lossy(&crash.input),
                    if saved {
                        format!("saved as {}", path.display())
                    } else {
                        "could not save it".to_string()
                    }
                );
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("versus-fuzz: {problem}");
    }
    eprintln!("usage: versus-fuzz [--seconds N] [--seed S] [ws_decode|moves|lightcycles_input]...");
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
