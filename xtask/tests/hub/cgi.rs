//! `git http-backend` as a CGI program: the smart HTTP protocol, served for real.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Seen, USER};

/// Runs one request through `git http-backend`; returns `(status, headers, body)`.
pub fn http_backend(
    project_root: &Path,
    path_info: &str,
    seen: &Seen,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let query = seen.url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let header = |name: &str| {
        seen.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", USER)
        .env("REQUEST_METHOD", &seen.method)
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", seen.body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let body = seen.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let Some((end, sep)) = split else {
        return (500, Vec::new(), out.stderr);
    };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            status = value
                .trim()
                .split(' ')
                .next()
                .unwrap_or("500")
                .parse()
                .unwrap_or(500);
        } else {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (status, headers, out.stdout[end + sep..].to_vec())
}
