//! A minimal HTTP/1.1 server over tokio TCP, in the style of
//! [`jwks_server`](crate::jwks_server): one request per connection, `Connection: close`,
//! bounded header and body sizes, `Content-Length` bodies only.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path without the query.
    pub(crate) path: String,
    /// Lower-cased names; the last value wins (duplicates are not interesting here).
    pub(crate) headers: HashMap<String, String>,
    /// How many times each header name occurred (to refuse two `Authorization`s).
    pub(crate) header_counts: HashMap<String, usize>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One response; `Content-Length` and `Connection: close` are added when written.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
    pub(crate) fn no_store(self) -> Self {
        self.header("Cache-Control", "no-store")
            .header("Pragma", "no-cache")
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Why a request could not be read: answered with this status, or dropped (`None`).
enum ReadError {
    Answer(u16),
    Drop,
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Answer(413));
        }
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Drop)?;
        if n == 0 {
            return Err(ReadError::Drop);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ReadError::Answer(400))?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version)) = (first.next(), first.next(), first.next())
    else {
        return Err(ReadError::Answer(400));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Answer(400));
    }
    let mut headers = HashMap::new();
    let mut header_counts = HashMap::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Err(ReadError::Answer(400));
        };
        let k = k.trim().to_ascii_lowercase();
        *header_counts.entry(k.clone()).or_insert(0) += 1;
        headers.insert(k, v.trim().to_owned());
    }
    if headers.contains_key("transfer-encoding") {
        return Err(ReadError::Answer(411));
    }
    let len = match headers.get("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ReadError::Answer(400))?,
    };
    if len > MAX_BODY {
        return Err(ReadError::Answer(413));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Drop)?;
        if n == 0 {
            return Err(ReadError::Drop);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let path = target.split('?').next().unwrap_or("").to_owned();
    Ok(Request {
        method: method.to_owned(),
        path,
        headers,
        header_counts,
        body,
    })
}

/// Accepts connections until `stop` changes; each connection gets one answer from
/// `handler`.
pub(crate) async fn serve<H>(listener: TcpListener, handler: Arc<H>, stop: watch::Receiver<bool>)
where
    H: Fn(Request) -> Response + Send + Sync + 'static,
{
    let mut stop_accept = stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop_accept.changed() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let handler = handler.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let exchange = async {
                let response = match read_request(&mut stream).await {
                    Ok(req) => handler(req),
                    Err(ReadError::Answer(status)) => Response::empty(status),
                    Err(ReadError::Drop) => return,
                };
                let _ = stream.write_all(&response.to_bytes()).await;
                let _ = stream.shutdown().await;
            };
            tokio::select! {
                () = exchange => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Decodes `application/x-www-form-urlencoded` into pairs (`+` is a space).
/// `None` when a percent escape is broken or the result is not UTF-8.
pub(crate) fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

/// One form-urlencoded component.
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Form-urlencodes one component (for clients: basic-auth credentials, test bodies).
#[must_use]
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_round_trip() {
        let s = "a b+c%&=é:";
        assert_eq!(form_decode(&form_encode(s)).as_deref(), Some(s));
        assert_eq!(
            parse_form(b"grant_type=client_credentials&scope=a+b%3Ac&x"),
            Some(vec![
                ("grant_type".into(), "client_credentials".into()),
                ("scope".into(), "a b:c".into()),
                ("x".into(), String::new()),
            ])
        );
        assert_eq!(parse_form(b"a=%zz"), None);
        assert_eq!(parse_form(b"a=%4"), None);
    }
}
