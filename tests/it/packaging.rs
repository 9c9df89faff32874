//! How pipewatch reaches its users besides `cargo install`: the container image (checked without
//! a Docker daemon, which these machines do not run), shell completion and the manual page.
//! The wheel in real Airflow venvs is tested with the example DAG (`examples.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const BINARY: &str = env!("CARGO_BIN_EXE_pipewatch");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Dockerfile's instructions, one per logical line (continuations joined), comments out.
fn dockerfile() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            current.push_str(start);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// The paths `src/` embeds with include_str!/include_bytes! outside `#[cfg(test)]` modules,
/// relative to the repository.
fn embedded_paths() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![repo().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut embedded = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Test modules sit at the end of a file; what they embed is not in the release build.
        let shipped = text.split("#[cfg(test)]").next().unwrap();
        for part in shipped.split("include_str!(\"").skip(1) {
            let relative = part.split('"').next().unwrap();
            let resolved = file.parent().unwrap().join(relative);
            let canonical = resolved
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: {relative}: {e}", file.display()));
            embedded.push(canonical.strip_prefix(repo()).unwrap().to_path_buf());
        }
    }
    assert!(embedded.len() > 50, "{embedded:?}");
    embedded
}

#[test]
fn the_dockerfile_builds_the_tested_binary_from_files_that_exist_into_a_non_root_image() {
    let lines = dockerfile();
    let stages: Vec<&String> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    let runtime_at = lines.iter().position(|l| l == stages[1]).unwrap();
    let (build, runtime) = lines.split_at(runtime_at);

    // What the build stage copies exists, and covers every file the binary embeds.
    let mut copied = Vec::new();
    for line in build.iter().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &words[..words.len() - 1] {
            assert!(repo().join(source).exists(), "COPY {source}: no such file");
            copied.push(PathBuf::from(source));
        }
    }
    for path in embedded_paths() {
        assert!(
            copied.iter().any(|c| path.starts_with(c)),
            "the binary embeds {} but the Dockerfile does not copy it",
            path.display()
        );
    }
    // The build is the locked release build of the package under test, which builds the
    // same binary CI tests (the integration feature changes nothing in it; see Cargo.toml).
    let run = build
        .iter()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("the build stage runs cargo build");
    assert_eq!(run, "RUN cargo build --release --locked");
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("integration = []"),
        "the test feature adds nothing"
    );

    // The runtime stage: the binary only, as a non-root user, which the entry point runs.
    let copies: Vec<&String> = runtime.iter().filter(|l| l.starts_with("COPY")).collect();
    assert_eq!(
        copies,
        ["COPY --from=build /src/target/release/pipewatch /usr/local/bin/pipewatch"]
    );
    assert!(
        !runtime.iter().any(|l| l.starts_with("RUN ")),
        "nothing else is installed"
    );
    let user = runtime
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(!["root", "0"].contains(&user), "runs as {user}");
    assert!(
        runtime
            .iter()
            .any(|l| l.contains("ENTRYPOINT [\"/usr/local/bin/pipewatch\"]"))
    );

    // The README's one line for a user's Airflow image copies from where the image puts it.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("COPY --from="))
        .expect("the README shows the COPY --from line");
    assert!(
        line.contains(" /usr/local/bin/pipewatch /usr/local/bin/pipewatch"),
        "{line}"
    );
}

#[test]
fn the_binary_needs_no_library_the_distroless_runtime_lacks() {
    // gcr.io/distroless/cc-debian12 has glibc (libc, libm, libdl, libpthread, librt), libgcc_s
    // and the loader, and Debian 12's glibc, as the build stage's bookworm image does.
    let runtime = dockerfile()
        .into_iter()
        .filter(|l| l.starts_with("FROM "))
        .nth(1)
        .unwrap();
    assert!(runtime.contains("distroless/cc-debian12"), "{runtime}");
    let output = Command::new("ldd").arg(BINARY).output().expect("run ldd");
    let text = String::from_utf8_lossy(&output.stdout);
    let provided = [
        "linux-vdso",
        "libc.so",
        "libm.so",
        "libdl.so",
        "libpthread.so",
        "librt.so",
        "libgcc_s.so",
        "ld-linux",
    ];
    for line in text.lines() {
        let library = line.split_whitespace().next().unwrap_or("");
        assert!(
            provided.iter().any(|p| library.contains(p)),
            "the binary needs {library}, which the runtime image does not have:\n{text}"
        );
    }
}

fn run_binary(args: &[&str]) -> Run {
    pipewatch(Path::new("/"), args, &[])
}

#[test]
fn completions_load_in_bash_and_name_every_command() {
    let bash = run_binary(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{bash:?}");
    for command in [
        "run",
        "backfill",
        "metrics",
        "check-config",
        "completions",
        "man",
    ] {
        assert!(bash.stdout.contains(command), "{command} missing");
    }
    let dir = TempDir::new();
    let script = dir.path().join("pipewatch.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    // Real bash loads it and asks it for the commands after "pipewatch m".
    let probe = format!(
        "source {}; COMP_WORDS=(pipewatch m); COMP_CWORD=1; COMP_LINE='pipewatch m'; \
         COMP_POINT=11; _pipewatch pipewatch m pipewatch; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let replies = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        ["metrics", "migrate", "man"]
            .iter()
            .all(|c| replies.lines().any(|l| l == *c)),
        "{replies}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = run_binary(&["completions", shell]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("check-config"), "{shell}");
    }
    let bad = run_binary(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[test]
fn the_manual_page_renders_with_man() {
    let page = run_binary(&["man"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert!(page.stdout.starts_with(".ie"), "roff");
    let dir = TempDir::new();
    let file = dir.path().join("pipewatch.1");
    std::fs::write(&file, &page.stdout).unwrap();
    let out = Command::new("man")
        .args(["-l", file.to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("run man (scripts/test installs man-db)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("NAME") && text.contains("pipewatch"),
        "{text}"
    );
    assert!(
        text.contains("pipewatch-metrics(1)") && text.contains("Exit codes"),
        "{text}"
    );
    // Every page at once, the commands' own included, for a man directory.
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    let all = run_binary(&["man", "--out-dir", pages.to_str().unwrap()]);
    assert_eq!(all.code, 0, "{all:?}");
    let metrics = pages.join("pipewatch-metrics.1");
    let out = Command::new("man")
        .args(["-l", metrics.to_str().unwrap()])
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Prometheus"), "{text}");
    assert!(pages.join("pipewatch.1").is_file() && pages.join("pipewatch-run.1").is_file());
}
