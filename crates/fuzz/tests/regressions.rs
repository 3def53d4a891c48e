//! Every input a fuzz run ever crashed on (`regressions/<target>/`) is replayed here, and a
//! short deterministic run of each target makes sure the fuzzer itself still works.

use std::time::Duration;

#[test]
fn every_saved_crash_input_passes_now() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for (name, target, _) in versus_fuzz::targets() {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for entry in entries.flatten() {
            let input = std::fs::read(entry.path()).unwrap();
            if let Err(reason) = versus_fuzz::check(target, &input) {
                panic!("{name}: {} still fails: {reason}", entry.path().display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "the regression corpus is empty");
}

#[test]
fn a_short_run_of_every_target_finds_nothing() {
    for (name, target, seeds) in versus_fuzz::targets() {
        let result = versus_fuzz::run(target, &seeds, 7, Duration::from_secs(3600), 2_000);
        match result {
            Ok(tried) => assert_eq!(tried, 2_000, "{name}"),
            Err(crash) => panic!(
                "{name}: {} on {}",
                crash.reason,
                String::from_utf8_lossy(&crash.input)
            ),
        }
    }
}

#[test]
fn a_broken_target_is_caught() {
    fn broken(input: &[u8]) -> Result<(), String> {
        assert!(input.len() < 3, "too long");
        Ok(())
    }
    let crash = versus_fuzz::run(
        broken,
        &[b"ab".to_vec()],
        1,
        Duration::from_secs(60),
        10_000,
    )
    .expect_err("the fuzzer finds the panic");
    assert!(crash.input.len() >= 3);
    assert!(crash.reason.contains("too long"), "{}", crash.reason);
}
