//! `cargo xtask`: generate, check and deploy the Hugging Face Space of this monorepo.
//!
//! One module per command; settings and the environment are read here once and passed down.

mod check;
mod ci;
mod deploy;
mod files;
mod fingerprint;
mod flags;
mod frontend;
mod generate;
mod hooks;
mod http;
mod interrupt;
mod local_space;
mod logs;
mod pattern;
mod process;
mod progress;
mod settings;
mod space;
mod status;
mod tools;
mod untrusted;

use std::process::ExitCode;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::Shell;

/// The monorepo being worked on: its root and its settings.
pub(crate) struct Project {
    pub(crate) root: Utf8PathBuf,
    pub(crate) settings: settings::HfSpace,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        // 130 = 128 + SIGINT, what shells report for a command stopped by Ctrl-C; one line,
        // without the context of whatever step was running.
        Err(err) if err.is::<interrupt::Interrupted>() => {
            eprintln!("{}", interrupt::Interrupted);
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a command stopped by Ctrl-C has cleaned up when it says so; `None` where it leaves
/// nothing behind (it only reads) or does not catch Ctrl-C (the process just ends).
fn cleaned_up_on_ctrl_c(command: &flags::XtaskCmd) -> Option<&'static str> {
    match command {
        flags::XtaskCmd::Deploy(deploy) if deploy.local || deploy.stop => {
            Some("nothing it started (pip, PostgreSQL, uvicorn) was left running")
        }
        flags::XtaskCmd::Deploy(_) => {
            Some("no temporary clone or process it started was left behind")
        }
        flags::XtaskCmd::Ci(_) => Some("no tool it started was left running"),
        flags::XtaskCmd::Generate(_)
        | flags::XtaskCmd::Check(_)
        | flags::XtaskCmd::InstallHooks(_)
        | flags::XtaskCmd::Status(_)
        | flags::XtaskCmd::Logs(_) => None,
    }
}

fn try_main() -> Result<()> {
    let env = settings::Env::of_process();
    for key in deploy::TOKEN_VARIABLES {
        // SAFETY: nothing else runs yet (no thread is started before this), so nothing reads
        // the environment while it changes.
        unsafe { std::env::remove_var(key) };
    }
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(text) = flags::help_or_version(&args)? {
        print!("{text}");
        return Ok(());
    }
    let flags = flags::Xtask::from_vec(std::env::args_os().skip(1).collect()).map_err(|err| {
        anyhow::anyhow!(
            "{err}: `cargo xtask help` lists the commands, `cargo xtask COMMAND --help` a command's options"
        )
    })?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = Utf8PathBuf::from_path_buf(cwd).map_err(|p| {
        anyhow::anyhow!(
            "the current directory {} is not valid UTF-8: work from a UTF-8 path",
            p.display()
        )
    })?;
    let built_in = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let root = settings::find_root(&cwd, built_in);
    let sh = Shell::new()?;
    sh.change_dir(&root);
    let project = Project {
        settings: settings::HfSpace::load(&root)?,
        root,
    };

    if let Some(what) = cleaned_up_on_ctrl_c(&flags.subcommand) {
        interrupt::cleans_up(what);
    }
    match flags.subcommand {
        flags::XtaskCmd::Generate(cmd) => cmd.run(&sh, &project),
        flags::XtaskCmd::Check(cmd) => cmd.run(&sh, &project),
        flags::XtaskCmd::InstallHooks(cmd) => cmd.run(&project),
        flags::XtaskCmd::Deploy(cmd) => cmd.run(&sh, &project, &env),
        flags::XtaskCmd::Ci(cmd) => cmd.run(&sh, &project),
        flags::XtaskCmd::Status(cmd) => cmd.run(&project, &env),
        flags::XtaskCmd::Logs(cmd) => cmd.run(&project, &env),
    }
}
