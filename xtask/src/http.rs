//! The one HTTP client of xtask (Hub API, Space health and CORS, the local Space): the system
//! `curl`, driven as git drives libcurl.
//!
//! Every status comes back as an answer, not an error: callers turn 401, 404, 429 or 503 into
//! the advice that fits. Every call has a deadline, so no wait can hang.
//!
//! Why curl and not a Rust TLS stack: HTTPS then trusts what git trusts (the system's
//! certificate store, so a company CA installed on the machine works for the Hub API as it
//! does for `git push`), proxies come from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` exactly as
//! curl and git read them, and the cold build compiles no TLS code (docs/xtask.md,
//! "Performance"). Loopback is never sent through a proxy. The request (URL, headers, body) is
//! handed to curl as a config on its stdin, so a token or secret value never appears in argv;
//! curl sends a custom `Authorization` header to the original host only, so a redirect to
//! another host carries no credential.
//!
//! The API is the small part of ureq's that xtask uses: `agent(timeout).get(url)
//! .header(k, v).call()`, `.send(body)`, `response.status()`, `.headers().get(k)`,
//! `.body_mut().read_to_string()`.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The hosts that mean this machine, as a URL names them (an IPv6 one in brackets there): never
/// reached through a proxy (tests and `deploy --local` use them), and where plain http is safe.
pub(crate) const LOCAL_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Redirects followed, as browsers and ureq do.
const MAX_REDIRECTS: u32 = 10;

pub(crate) fn agent(timeout: Duration) -> Agent {
    Agent { timeout }
}

/// Makes requests that each end within `timeout`.
#[derive(Clone)]
pub(crate) struct Agent {
    timeout: Duration,
}

impl Agent {
    pub(crate) fn get(&self, url: impl AsRef<str>) -> Request {
        self.request("GET", url.as_ref())
    }

    pub(crate) fn post(&self, url: impl AsRef<str>) -> Request {
        self.request("POST", url.as_ref())
    }

    pub(crate) fn options(&self, url: impl AsRef<str>) -> Request {
        self.request("OPTIONS", url.as_ref())
    }

    fn request(&self, method: &'static str, url: &str) -> Request {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            timeout: Some(self.timeout),
            recv_response: None,
            max_redirects: MAX_REDIRECTS,
        }
    }
}

/// One request being built.
pub(crate) struct Request {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    /// The whole exchange, body included; `None`: no limit (a stream read until it ends).
    timeout: Option<Duration>,
    /// Until the status and headers have arrived.
    recv_response: Option<Duration>,
    max_redirects: u32,
}

/// `request.config().timeout_global(..).build()`: this request's own settings.
pub(crate) struct RequestConfig(Request);

impl RequestConfig {
    pub(crate) fn timeout_global(mut self, timeout: Option<Duration>) -> Self {
        self.0.timeout = timeout;
        self
    }

    pub(crate) fn timeout_recv_response(mut self, timeout: Option<Duration>) -> Self {
        self.0.recv_response = timeout;
        self
    }

    /// 0: the answer is the redirect itself (its status and `Location`).
    pub(crate) fn max_redirects(mut self, max: u32) -> Self {
        self.0.max_redirects = max;
        self
    }

    pub(crate) fn build(self) -> Request {
        self.0
    }
}

impl Request {
    pub(crate) fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_owned()));
        self
    }

    pub(crate) fn config(self) -> RequestConfig {
        RequestConfig(self)
    }

    /// Sends the request without a body.
    pub(crate) fn call(self) -> Result<Response, Error> {
        self.run(None)
    }

    pub(crate) fn send(self, body: impl AsRef<str>) -> Result<Response, Error> {
        self.run(Some(body.as_ref()))
    }

    /// Sends an empty body (`Content-Length: 0`), as a POST without content should.
    pub(crate) fn send_empty(self) -> Result<Response, Error> {
        self.run(Some(""))
    }

    fn run(self, body: Option<&str>) -> Result<Response, Error> {
        let config = self.curl_config(body)?;
        let head_deadline = self.recv_response.or(self.timeout);
        exchange(
            Command::new("curl"),
            &config,
            head_deadline,
            self.max_redirects,
        )
    }

    /// curl's config file syntax (`curl --config`): one `option = "value"` a line.
    fn curl_config(&self, body: Option<&str>) -> Result<String, Error> {
        let mut lines = vec![
            ("url", self.url.clone()),
            ("request", self.method.to_owned()),
            ("proto", "=http,https".to_owned()),
            ("max-redirs", self.max_redirects.to_string()),
            ("noproxy", no_proxy(|name| std::env::var(name).ok())),
            (
                "user-agent",
                concat!("cargo-xtask/", env!("CARGO_PKG_VERSION")).to_owned(),
            ),
            // No `Expect: 100-continue` wait before a larger body.
            ("header", "Expect:".to_owned()),
        ];
        for (name, value) in &self.headers {
            if name.contains([':', '\r', '\n']) || value.contains(['\r', '\n']) {
                return Err(Error(format!(
                    "the header {name:?} of the request to {} has a line break or colon in it",
                    self.url
                )));
            }
            lines.push(("header", format!("{name}: {value}")));
        }
        if let Some(body) = body {
            let has_type = self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            if !has_type {
                // curl would otherwise label the body a form.
                lines.push(("header", "Content-Type:".to_owned()));
            }
            lines.push(("data-raw", body.to_owned()));
        }
        if let Some(timeout) = self.timeout {
            lines.push(("max-time", format!("{:.3}", timeout.as_secs_f64())));
        }
        if let Some(timeout) = self.recv_response.or(self.timeout) {
            lines.push(("connect-timeout", format!("{:.3}", timeout.as_secs_f64())));
        }
        // The status line and headers of each answer go first on stdout, then the body
        // (a proxy's CONNECT answer left out), unbuffered so a stream arrives as it is sent;
        // errors go to stderr.
        let mut flags = vec![
            "include",
            "no-buffer",
            "show-error",
            "suppress-connect-headers",
        ];
        if self.max_redirects > 0 {
            flags.push("location");
        }
        for flag in flags {
            lines.push((flag, String::new()));
        }
        let mut config = String::new();
        for (option, value) in lines {
            if value.contains('\0') {
                return Err(Error(format!(
                    "the request to {} has a NUL byte in its {option}",
                    self.url
                )));
            }
            if value.is_empty() && option != "data-raw" && option != "header" {
                config.push_str(&format!("{option}\n"));
            } else {
                config.push_str(&format!("{option} = \"{}\"\n", quote(&value)));
            }
        }
        Ok(config)
    }
}

/// Runs `curl` (a command without arguments yet) on `config` and reads the answer's status
/// line and headers, waiting at most `head_deadline` for them; the body stays a stream.
fn exchange(
    mut curl: Command,
    config: &str,
    head_deadline: Option<Duration>,
    max_redirects: u32,
) -> Result<Response, Error> {
    let mut child = curl
        .args(["--silent", "--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            Error(format!(
                "cannot run `curl` ({err}): it makes xtask's HTTPS calls; install it \
                 (`apt-get install curl`) and re-run"
            ))
        })?;
    // curl reads its whole config before it connects, so this write cannot wait on the answer.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(config.as_bytes());
    drop(stdin);
    if let Err(err) = written {
        return Err(Error(format!("cannot hand the request to curl: {err}")));
    }
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let head = read_head(&mut stdout, max_redirects);
        let _ = sender.send((head, stdout));
    });
    let answer = match head_deadline {
        Some(deadline) => receiver.recv_timeout(deadline).ok(),
        None => receiver.recv().ok(),
    };
    let mut body = Body {
        stdout: None,
        child,
    };
    let Some((head, stdout)) = answer else {
        let seconds = head_deadline.unwrap_or_default().as_secs_f64();
        return Err(Error(format!("no answer within {seconds:.0} s")));
    };
    body.stdout = Some(stdout);
    match head {
        Some((status, headers)) => Ok(Response {
            status: Status(status),
            headers: Headers(headers),
            body,
        }),
        None => Err(Error(body.failure())),
    }
}

/// The last answer's status and headers (names lower-cased), after any informational answer
/// and any redirect curl follows; `None` when curl wrote no answer.
fn read_head(
    stdout: &mut impl BufRead,
    max_redirects: u32,
) -> Option<(u16, Vec<(String, HeaderValue)>)> {
    let mut redirects = 0;
    loop {
        let mut line = String::new();
        stdout.read_line(&mut line).ok().filter(|n| *n > 0)?;
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).ok()? == 0 || line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = HeaderValue(value.trim().to_owned());
                headers.push((name.trim().to_ascii_lowercase(), value));
            }
        }
        let followed = [301, 302, 303, 307, 308].contains(&status)
            && headers.iter().any(|(n, _)| n == "location")
            && redirects < max_redirects;
        if followed {
            redirects += 1;
        } else if !(100..200).contains(&status) {
            return Some((status, headers));
        }
    }
}

/// A value inside double quotes of a curl config: `\` and `"` escaped, line breaks and tabs
/// written as escapes so the value stays on its line.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\x0b' => quoted.push_str("\\v"),
            c => quoted.push(c),
        }
    }
    quoted
}

/// The value of an `Authorization` header for HTTP Basic authentication (RFC 7617):
/// `Basic ` and the base64 (RFC 4648, padded) of `user:password`. Git sends its credentials so.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut value = String::with_capacity(6 + bytes.len().div_ceil(3) * 4);
    value.push_str("Basic ");
    for chunk in bytes.chunks(3) {
        // Three bytes (zero-filled) make four 6-bit digits; a short chunk ends in `=` pads.
        let triple = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for digit in 0..4 {
            if digit <= chunk.len() {
                value.push(char::from(
                    ALPHABET[(triple >> (18 - 6 * digit) & 63) as usize],
                ));
            } else {
                value.push('=');
            }
        }
    }
    value
}

/// The hosts reached directly: `NO_PROXY` (as `var` reads the environment) plus loopback.
fn no_proxy(var: impl Fn(&str) -> Option<String>) -> String {
    let listed = ["no_proxy", "NO_PROXY"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()));
    let local = LOCAL_HOSTS.join(",");
    match listed {
        Some(listed) => format!("{},{local}", listed.trim()),
        None => local,
    }
}

/// An answer: its status and headers, and its body as curl delivers it.
pub(crate) struct Response {
    status: Status,
    headers: Headers,
    body: Body,
}

impl Response {
    pub(crate) fn status(&self) -> Status {
        self.status
    }

    pub(crate) fn headers(&self) -> &Headers {
        &self.headers
    }

    pub(crate) fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    pub(crate) fn into_body(self) -> Body {
        self.body
    }
}

/// An HTTP status code; compares with a number (`response.status() == 200`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status(u16);

impl Status {
    pub(crate) fn as_u16(self) -> u16 {
        self.0
    }

    pub(crate) fn is_redirection(self) -> bool {
        (300..400).contains(&self.0)
    }
}

impl PartialEq<u16> for Status {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An answer's headers (the last value of each, names compared without case).
pub(crate) struct Headers(Vec<(String, HeaderValue)>);

impl Headers {
    pub(crate) fn get(&self, name: &str) -> Option<&HeaderValue> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

pub(crate) struct HeaderValue(String);

impl HeaderValue {
    pub(crate) fn to_str(&self) -> Result<&str, Error> {
        Ok(&self.0)
    }
}

/// The body, read from curl as it arrives; curl is stopped when the body is dropped.
pub(crate) struct Body {
    stdout: Option<BufReader<ChildStdout>>,
    child: Child,
}

impl Body {
    /// The whole body; a transfer that failed on the way (cut, timed out) is an error.
    pub(crate) fn read_to_string(&mut self) -> Result<String, Error> {
        let mut bytes = Vec::new();
        if let Some(stdout) = &mut self.stdout {
            stdout
                .read_to_end(&mut bytes)
                .map_err(|err| Error(format!("reading the answer failed: {err}")))?;
        }
        let status = self.child.wait().map_err(|err| Error(err.to_string()))?;
        if !status.success() {
            return Err(Error(self.failure()));
        }
        String::from_utf8(bytes).map_err(|_| Error("the answer is not UTF-8 text".to_owned()))
    }

    /// The body as a stream: it ends where the transfer ends (its end, its deadline, an error).
    pub(crate) fn into_reader(self) -> impl Read + Send {
        self
    }

    /// What curl said on stderr about its failure (after it exited).
    fn failure(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut said = String::new();
        if let Some(stderr) = &mut self.child.stderr {
            let _ = stderr.read_to_string(&mut said);
        }
        let said = said.trim().trim_start_matches("curl: ");
        crate::untrusted::line(if said.is_empty() { "no answer" } else { said })
    }
}

impl Read for Body {
    /// The body's bytes; at its end, a transfer that failed (cut, timed out) is an error, as a
    /// stream cut mid-way must be told from one that ended.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(stdout) = &mut self.stdout else {
            return Ok(0);
        };
        let read = stdout.read(buf)?;
        if read > 0 || buf.is_empty() {
            return Ok(read);
        }
        self.stdout = None;
        let status = self.child.wait()?;
        if status.success() {
            return Ok(0);
        }
        // curl's exit code 28: the deadline passed.
        let kind = if status.code() == Some(28) {
            std::io::ErrorKind::TimedOut
        } else {
            std::io::ErrorKind::Other
        };
        Err(std::io::Error::new(kind, self.failure()))
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No answer: curl missing, no connection, TLS refused, the deadline passed before a status.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        // RFC 7617's example, each padding length, and bytes past ASCII (`+` and `/` digits).
        for (user, password, encoded) in [
            ("Aladdin", "open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            ("", "", "Og=="),
            ("a", "", "YTo="),
            ("ab", "", "YWI6"),
            ("user", "hf_x", "dXNlcjpoZl94"),
            ("\u{e9}", "\u{ff}~", "w6k6w79+"),
        ] {
            assert_eq!(
                basic_auth(user, password),
                format!("Basic {encoded}"),
                "{user}:{password}"
            );
        }
    }

    /// A one-connection HTTP server on 127.0.0.1: answers `answer` and returns what it was sent.
    fn serve_once(answer: impl Into<String>) -> (String, JoinHandle<String>) {
        let answer = answer.into();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(conn);
            let mut asked = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
                asked.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            asked.push_str(&String::from_utf8(body).unwrap());
            reader.get_mut().write_all(answer.as_bytes()).unwrap();
            asked
        });
        (url, server)
    }

    #[test]
    fn a_post_sends_headers_and_body_and_reads_status_headers_and_body() {
        let (url, server) = serve_once(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\ncontent-length: 5\r\n\r\nslow!",
        );
        let body = r#"{"key": "K", "value": "a \"quoted\" \\ value\nwith a line break"}"#;
        let mut response = agent(Duration::from_secs(20))
            .post(format!("{url}/api/x?a=1"))
            .header("Authorization", "Bearer hf_secret")
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.status().to_string(), "429");
        let retry = response.headers().get("retry-after").unwrap().to_str();
        assert_eq!(retry.unwrap(), "7");
        assert_eq!(response.body_mut().read_to_string().unwrap(), "slow!");
        let asked = server.join().unwrap();
        assert!(asked.starts_with("POST /api/x?a=1 HTTP/1.1\r\n"), "{asked}");
        assert!(
            asked.contains("Authorization: Bearer hf_secret\r\n"),
            "{asked}"
        );
        assert!(asked.contains("User-Agent: cargo-xtask/"), "{asked}");
        assert!(asked.ends_with(body), "{asked}");
    }

    #[test]
    fn an_empty_post_and_an_options_request_carry_no_form_type() {
        let (url, server) = serve_once("HTTP/1.1 204 No Content\r\n\r\n");
        let response = agent(Duration::from_secs(20))
            .post(&url)
            .send_empty()
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let asked = server.join().unwrap().to_ascii_lowercase();
        assert!(asked.contains("content-length: 0\r\n"), "{asked}");
        assert!(!asked.contains("content-type"), "{asked}");

        let (url, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let options = agent(Duration::from_secs(20))
            .options(&url)
            .header("Origin", "https://app.example")
            .call();
        assert_eq!(options.unwrap().status(), 200);
        assert!(server.join().unwrap().starts_with("OPTIONS / HTTP/1.1\r\n"));
    }

    #[test]
    fn redirects_are_followed_unless_the_request_says_not_to() {
        let (target, served) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nhere");
        let answer = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/new\r\ncontent-length: 0\r\n\r\n"
        );
        let (url, redirecting) = serve_once(answer.clone());
        let mut followed = agent(Duration::from_secs(20)).get(&url).call().unwrap();
        assert_eq!(followed.status(), 200);
        assert_eq!(followed.body_mut().read_to_string().unwrap(), "here");
        assert!(served.join().unwrap().starts_with("GET /new HTTP/1.1\r\n"));
        redirecting.join().unwrap();

        let (url, redirecting) = serve_once(answer);
        let response = agent(Duration::from_secs(20))
            .get(&url)
            .config()
            .max_redirects(0)
            .build()
            .call()
            .unwrap();
        assert!(response.status().is_redirection());
        let location = response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(location, format!("{target}/new"));
        redirecting.join().unwrap();
    }

    /// A log stream that never ends is read as it arrives: the first event is read while the
    /// server still holds the connection open.
    #[test]
    fn a_body_is_a_stream_read_as_it_arrives() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/logs",
            listener.local_addr().unwrap().port()
        );
        let (go_on, wait) = mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let _ = conn.read(&mut request).unwrap();
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
            conn.write_all(format!("{head}data: one\n").as_bytes())
                .unwrap();
            wait.recv().unwrap();
            conn.write_all(b"data: two\n").unwrap();
        });
        let response = agent(Duration::from_secs(20))
            .get(&url)
            .config()
            .timeout_global(None)
            .timeout_recv_response(Some(Duration::from_secs(20)))
            .build()
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut lines = BufReader::new(response.into_body().into_reader()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "data: one");
        go_on.send(()).unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "data: two");
        server.join().unwrap();
        assert!(lines.next().is_none());
    }

    #[test]
    fn a_server_that_never_answers_is_an_error_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        );
        let err = agent(Duration::from_secs(1))
            .get(&url)
            .call()
            .err()
            .expect("no answer");
        // Whichever deadline fires first, curl's own or the wait for the status line.
        let said = err.to_string();
        assert!(
            said.contains("no answer within 1 s") || said.contains("timed out after"),
            "{said}"
        );
        drop(listener);
    }

    /// The token goes to the origin it was meant for: a redirect to another origin (here
    /// another port) is followed without it.
    #[test]
    fn a_redirect_to_another_origin_carries_no_authorization() {
        let (target, served) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let (url, redirecting) = serve_once(format!(
            "HTTP/1.1 302 Found\r\nLocation: {target}/elsewhere\r\ncontent-length: 0\r\n\r\n"
        ));
        let response = agent(Duration::from_secs(20))
            .get(&url)
            .header("Authorization", "Bearer hf_secret")
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(redirecting.join().unwrap().contains("Bearer hf_secret"));
        let asked = served.join().unwrap();
        assert!(asked.starts_with("GET /elsewhere "), "{asked}");
        assert!(
            !asked.to_ascii_lowercase().contains("authorization"),
            "{asked}"
        );
    }

    #[test]
    fn no_server_is_an_error_naming_the_failure() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = agent(Duration::from_secs(20))
            .get(format!("http://127.0.0.1:{port}/"))
            .call()
            .err()
            .expect("nothing listens there");
        assert!(err.to_string().contains("Failed to connect"), "{err}");
    }

    #[test]
    fn a_header_cannot_smuggle_a_line_into_the_request() {
        let err = agent(Duration::from_secs(1))
            .get("http://127.0.0.1:9/")
            .header("X-Bad", "a\r\nHost: elsewhere")
            .call()
            .err()
            .expect("refused");
        assert!(err.to_string().contains("line break"), "{err}");
    }

    #[test]
    fn loopback_is_always_reached_directly_and_no_proxy_is_kept() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(no_proxy(env(&[])), "localhost,127.0.0.1,::1");
        assert_eq!(
            no_proxy(env(&[("NO_PROXY", " .corp.example,hf.space ")])),
            ".corp.example,hf.space,localhost,127.0.0.1,::1"
        );
    }

    /// With a proxy in the environment, a loopback URL is still reached directly (the proxy
    /// here is a port where nothing listens: going through it would fail).
    #[test]
    fn a_proxy_in_the_environment_is_not_used_for_loopback() {
        let (url, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_proxy = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
        drop(dead);
        // curl reads the proxy from its own environment; the test sets it for curl alone.
        let mut curl = Command::new("curl");
        for var in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
            curl.env(var, &dead_proxy);
        }
        let config = agent(Duration::from_secs(20))
            .get(&url)
            .curl_config(None)
            .unwrap();
        let mut response = exchange(curl, &config, Some(Duration::from_secs(20)), 10).unwrap();
        assert_eq!(response.body_mut().read_to_string().unwrap(), "ok");
        server.join().unwrap();
    }
}
