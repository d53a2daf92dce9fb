//! Serves the local test Hub (xtask/tests/hub/) for a script in bench/, which sets
//! BENCH_HUB_DIR: writes `hub.env` there (endpoint, Space URL, token, user, Space) and serves
//! until the file `stop` appears (at most ten minutes). Not a benchmark itself, and not a
//! test: `cargo test -p xtask --bench test_hub -- SCENARIO` builds and runs it in the tests'
//! profile. SCENARIO: `deploy` (bench/deploy_bench.sh) or `rollback` (bench/rollback_bench.sh,
//! a Space with a 200-line build log).

#[path = "../xtask/tests/hub/mod.rs"]
mod hub;
#[path = "../xtask/tests/support/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../xtask/tests/support/repo.rs"]
mod repo;

const SPACE: &str = "bot";
const FRONTEND: &str = "https://my-app.vercel.app";

fn main() {
    if std::env::var_os("BENCH_HUB_DIR").is_none() {
        eprintln!("BENCH_HUB_DIR is not set: run a script in bench/, which sets it");
        std::process::exit(2);
    }
    match std::env::args().nth(1).as_deref() {
        Some("deploy") => hub::serve_for_bench(SPACE, FRONTEND, |_| {}),
        Some("rollback") => hub::serve_for_bench(SPACE, FRONTEND, |hub| {
            hub.state().build_log = (1..=200).map(|i| format!("build step {i}")).collect();
        }),
        _ => {
            eprintln!("usage: cargo test -p xtask --bench test_hub -- deploy|rollback");
            std::process::exit(2);
        }
    }
}
