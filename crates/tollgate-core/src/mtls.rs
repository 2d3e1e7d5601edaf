//! Certificate-bound access tokens (RFC 8705 §3): `cnf["x5t#S256"]`.
//!
//! An authorization server that authenticated its client with a TLS client certificate
//! can bind the access token to it: the token's confirmation claim carries
//! `x5t#S256`, the base64url (no padding) SHA-256 of the certificate's DER. A resource
//! server then accepts the token only over a connection that presented that same
//! certificate, so a token copied out of a log is useless without the private key.
//!
//! [`check_certificate`] is the rule: a token without `x5t#S256` is unaffected; a
//! bound token needs a presented [`CertificateThumbprint`] equal to its binding
//! (compared in constant time), else [`MtlsError::MissingCertificate`] /
//! [`MtlsError::CertificateMismatch`] (401 `invalid_token`).
//!
//! Where the certificate comes from is the front end's business: the TLS connection
//! itself, or, only when explicitly configured, a header set by a trusted proxy that
//! terminated TLS. The parsers for those headers live here too:
//! [`thumbprint_from_xfcc`] (Envoy `x-forwarded-client-cert`, `Hash=` or `Cert=`) and
//! [`thumbprint_from_client_cert`] (RFC 9440 `Client-Cert`).
//!
//! # Example
//!
//! ```
//! use tollgate_core::error::MtlsError;
//! use tollgate_core::mtls::{CertificateThumbprint, check_certificate};
//!
//! let der = b"the client certificate, DER-encoded";
//! let presented = CertificateThumbprint::from_der(der);
//! let cnf = serde_json::json!({ "x5t#S256": presented.to_base64url() });
//!
//! // accepted: the certificate the token is bound to
//! check_certificate(Some(&cnf), Some(&presented))?;
//! // an unbound token needs no certificate
//! check_certificate(None, None)?;
//!
//! // rejected: no certificate, or another one
//! assert_eq!(check_certificate(Some(&cnf), None), Err(MtlsError::MissingCertificate));
//! let other = CertificateThumbprint::from_der(b"another certificate");
//! assert_eq!(check_certificate(Some(&cnf), Some(&other)), Err(MtlsError::CertificateMismatch));
//! # Ok::<(), MtlsError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::error::MtlsError;

/// The confirmation member naming a certificate's SHA-256 thumbprint (RFC 8705 §3.1).
pub const CNF_X5T_S256: &str = "x5t#S256";

/// Cap on a forwarded certificate header, in bytes (a PEM chain of a few RSA-4096
/// certificates fits; anything longer is refused before decoding).
pub const MAX_FORWARDED_HEADER_LEN: usize = 32 * 1024;

/// The SHA-256 digest of a certificate's DER encoding (RFC 8705 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateThumbprint([u8; 32]);

impl CertificateThumbprint {
    /// The thumbprint of a DER-encoded certificate.
    #[must_use]
    pub fn from_der(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        CertificateThumbprint(out)
    }

    /// A thumbprint from its 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        CertificateThumbprint(bytes)
    }

    /// Parses the base64url (no padding) form used by `cnf["x5t#S256"]`.
    #[must_use]
    pub fn from_base64url(s: &str) -> Option<Self> {
        if s.len() != 43 {
            return None;
        }
        // decoded on the stack: no allocation on the request path
        let mut buf = [0u8; 33];
        let n = URL_SAFE_NO_PAD.decode_slice(s, &mut buf).ok()?;
        let bytes: [u8; 32] = buf.get(..n)?.try_into().ok()?;
        Some(CertificateThumbprint(bytes))
    }

    /// Parses 64 hex digits (either case), as Envoy's `Hash=` carries it.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *o = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(CertificateThumbprint(out))
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The base64url (no padding) form: the value of `cnf["x5t#S256"]`.
    #[must_use]
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl fmt::Debug for CertificateThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateThumbprint({})", self.to_base64url())
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The token's certificate binding: `Ok(None)` when `cnf` has no `x5t#S256` (the
/// token is not certificate-bound), [`MtlsError::InvalidConfirmation`] when it is not
/// the base64url of 32 bytes.
///
/// # Errors
///
/// As above.
pub fn token_x5t_s256(
    cnf: Option<&serde_json::Value>,
) -> Result<Option<CertificateThumbprint>, MtlsError> {
    match cnf.and_then(|c| c.get(CNF_X5T_S256)) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => CertificateThumbprint::from_base64url(s)
            .map(Some)
            .ok_or(MtlsError::InvalidConfirmation),
        Some(_) => Err(MtlsError::InvalidConfirmation),
    }
}

/// True when the token's `cnf` names a certificate (`x5t#S256`), whatever its value:
/// the cheap test a front end runs before looking for a certificate.
#[must_use]
pub fn is_certificate_bound(cnf: Option<&serde_json::Value>) -> bool {
    cnf.is_some_and(|c| c.get(CNF_X5T_S256).is_some())
}

/// The binding rule of RFC 8705 §3: a token whose `cnf` carries `x5t#S256` is
/// accepted only with a presented certificate of that thumbprint (compared in
/// constant time); a token without it is unaffected, with or without a certificate.
///
/// # Errors
///
/// [`MtlsError::InvalidConfirmation`] for an unreadable binding,
/// [`MtlsError::MissingCertificate`] without a certificate,
/// [`MtlsError::CertificateMismatch`] for another certificate.
pub fn check_certificate(
    cnf: Option<&serde_json::Value>,
    presented: Option<&CertificateThumbprint>,
) -> Result<(), MtlsError> {
    let Some(bound) = token_x5t_s256(cnf)? else {
        return Ok(());
    };
    let presented = presented.ok_or(MtlsError::MissingCertificate)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(&bound.0, &presented.0)
        .map_err(|_| MtlsError::CertificateMismatch)
}

/// The client certificate in an Envoy `x-forwarded-client-cert` value, set by a
/// trusted proxy that terminated TLS (forward mode `SANITIZE_SET`).
///
/// `Ok(None)` when the element carries neither `Hash` nor `Cert` (no client
/// certificate). `Hash=` is the hex SHA-256 of the DER; `Cert=` the URL-encoded PEM
/// of the certificate, hashed here. With both, they must agree.
///
/// # Errors
///
/// [`MtlsError::MalformedForwardedCertificate`] for more than one element (the
/// header was appended to, not set, by the proxy: ambiguous), a quoting error, a
/// repeated key, a `Hash` that is not 64 hex digits, a `Cert` that is not one PEM
/// certificate, `Hash` and `Cert` disagreeing, or a value over
/// [`MAX_FORWARDED_HEADER_LEN`].
///
/// ```
/// use tollgate_core::mtls::{CertificateThumbprint, thumbprint_from_xfcc};
///
/// let t = CertificateThumbprint::from_der(b"cert");
/// let hex: String = t.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
/// let value = format!("By=spiffe://api;Hash={hex};Subject=\"CN=client,O=Example\"");
/// assert_eq!(thumbprint_from_xfcc(&value), Ok(Some(t)));
/// assert_eq!(thumbprint_from_xfcc("By=spiffe://api"), Ok(None));
/// assert!(thumbprint_from_xfcc("Hash=zz").is_err());
/// ```
pub fn thumbprint_from_xfcc(value: &str) -> Result<Option<CertificateThumbprint>, MtlsError> {
    const BAD: MtlsError = MtlsError::MalformedForwardedCertificate;
    if value.len() > MAX_FORWARDED_HEADER_LEN {
        return Err(BAD);
    }
    let elements = split_quoted(value, b',').ok_or(BAD)?;
    let [element] = elements.as_slice() else {
        return Err(BAD);
    };
    let mut hash = None;
    let mut cert = None;
    for pair in split_quoted(element, b';').ok_or(BAD)? {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (key, raw) = pair.split_once('=').ok_or(BAD)?;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "hash" => &mut hash,
            "cert" => &mut cert,
            _ => continue,
        };
        if slot.is_some() {
            return Err(BAD);
        }
        *slot = Some(unquote(raw.trim()).ok_or(BAD)?);
    }
    let from_hash = match hash {
        Some(h) => Some(CertificateThumbprint::from_hex(&h).ok_or(BAD)?),
        None => None,
    };
    let from_cert = match cert {
        Some(c) => {
            let pem = percent_decode(&c).ok_or(BAD)?;
            Some(CertificateThumbprint::from_der(
                &pem_certificate(&pem).ok_or(BAD)?,
            ))
        }
        None => None,
    };
    match (from_hash, from_cert) {
        (Some(h), Some(c)) if h != c => Err(BAD),
        (h, c) => Ok(h.or(c)),
    }
}

/// The client certificate in an RFC 9440 `Client-Cert` value: a structured-field
/// byte sequence (`:` base64 of the DER `:`), set by a trusted proxy.
///
/// # Errors
///
/// [`MtlsError::MalformedForwardedCertificate`] when the value is not one non-empty
/// byte sequence, or is over [`MAX_FORWARDED_HEADER_LEN`].
///
/// ```
/// use tollgate_core::mtls::{CertificateThumbprint, thumbprint_from_client_cert};
///
/// // ":" + base64("cert") + ":"
/// assert_eq!(
///     thumbprint_from_client_cert(":Y2VydA==:"),
///     Ok(CertificateThumbprint::from_der(b"cert"))
/// );
/// assert!(thumbprint_from_client_cert("Y2VydA==").is_err());
/// ```
pub fn thumbprint_from_client_cert(value: &str) -> Result<CertificateThumbprint, MtlsError> {
    const BAD: MtlsError = MtlsError::MalformedForwardedCertificate;
    if value.len() > MAX_FORWARDED_HEADER_LEN {
        return Err(BAD);
    }
    let inner = value
        .trim_matches(' ')
        .strip_prefix(':')
        .and_then(|v| v.strip_suffix(':'))
        .ok_or(BAD)?;
    let der = STANDARD.decode(inner).map_err(|_| BAD)?;
    if der.is_empty() {
        return Err(BAD);
    }
    Ok(CertificateThumbprint::from_der(&der))
}

/// Splits at `sep` outside double quotes (backslash escapes inside quotes); `None`
/// for an unterminated quote.
fn split_quoted(s: &str, sep: u8) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    if quoted || escaped {
        return None;
    }
    out.push(&s[start..]);
    Some(out)
}

/// A value as written (`abc`) or double-quoted with backslash escapes (`"a\"b"`).
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.contains('"')).then(|| v.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// `%XX` decoding (Envoy URL-encodes the PEM); `None` for a broken escape or a
/// result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_digit(*b.get(i + 1)?)?;
            let lo = hex_digit(*b.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The DER of the one `CERTIFICATE` block of a PEM text; `None` when there is not
/// exactly one, or its base64 is broken.
fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let (before, rest) = pem.split_once(BEGIN)?;
    let (body, after) = rest.split_once(END)?;
    if !before.trim().is_empty() || !after.trim().is_empty() {
        return None;
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).ok()?;
    (!der.is_empty()).then_some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(t: &CertificateThumbprint) -> String {
        t.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn pem(der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    fn url_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn thumbprint_forms() {
        // RFC 8705 §3.1 names SHA-256 over the DER; known vector: SHA-256("abc")
        let t = CertificateThumbprint::from_der(b"abc");
        assert_eq!(
            hex(&t),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            t.to_base64url(),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(
            CertificateThumbprint::from_base64url(&t.to_base64url()),
            Some(t)
        );
        assert_eq!(CertificateThumbprint::from_hex(&hex(&t)), Some(t));
        assert_eq!(
            CertificateThumbprint::from_hex(&hex(&t).to_ascii_uppercase()),
            Some(t)
        );
        assert_eq!(CertificateThumbprint::from_hex(&hex(&t)[2..]), None);
        assert_eq!(CertificateThumbprint::from_hex(&"g".repeat(64)), None);
        // padded, standard alphabet, short: refused
        assert_eq!(
            CertificateThumbprint::from_base64url(&format!("{}=", t.to_base64url())),
            None
        );
        assert_eq!(
            CertificateThumbprint::from_base64url(&STANDARD.encode(t.as_bytes())),
            None
        );
        assert_eq!(CertificateThumbprint::from_base64url("abc"), None);
    }

    #[test]
    fn binding_rule() {
        let t = CertificateThumbprint::from_der(b"c1");
        let o = CertificateThumbprint::from_der(b"c2");
        let cnf = serde_json::json!({ "x5t#S256": t.to_base64url() });
        assert_eq!(check_certificate(Some(&cnf), Some(&t)), Ok(()));
        assert_eq!(
            check_certificate(Some(&cnf), Some(&o)),
            Err(MtlsError::CertificateMismatch)
        );
        assert_eq!(
            check_certificate(Some(&cnf), None),
            Err(MtlsError::MissingCertificate)
        );
        // unbound: no cnf, or a DPoP-only cnf
        assert_eq!(check_certificate(None, Some(&t)), Ok(()));
        let jkt = serde_json::json!({ "jkt": "abc" });
        assert_eq!(check_certificate(Some(&jkt), None), Ok(()));
        assert!(!is_certificate_bound(Some(&jkt)));
        assert!(is_certificate_bound(Some(&cnf)));
        // unreadable binding: refused even with a certificate
        for bad in [
            serde_json::json!({ "x5t#S256": 5 }),
            serde_json::json!({ "x5t#S256": "short" }),
            serde_json::json!({ "x5t#S256": null }),
            serde_json::json!({ "x5t#S256": hex(&t) }),
        ] {
            assert_eq!(
                check_certificate(Some(&bad), Some(&t)),
                Err(MtlsError::InvalidConfirmation),
                "{bad}"
            );
        }
    }

    #[test]
    fn xfcc() {
        let der = b"a certificate";
        let t = CertificateThumbprint::from_der(der);
        let cert = url_encode(&pem(der));
        let h = hex(&t);
        let ok = |v: &str| thumbprint_from_xfcc(v);
        assert_eq!(ok(&format!("Hash={h}")), Ok(Some(t)));
        assert_eq!(ok(&format!("Cert=\"{cert}\"")), Ok(Some(t)));
        assert_eq!(
            ok(&format!(
                "By=spiffe://cluster.local/ns/api;Hash={h};Cert=\"{cert}\";Subject=\"CN=a,O=b;c\";URI=spiffe://client;DNS=a.example"
            )),
            Ok(Some(t))
        );
        assert_eq!(ok("By=spiffe://x;Subject=\"CN=a\""), Ok(None));
        assert_eq!(ok(""), Ok(None));
        let bad = Err(MtlsError::MalformedForwardedCertificate);
        // two elements (appended), repeated keys, disagreeing Hash and Cert
        assert_eq!(ok(&format!("Hash={h},Hash={h}")), bad);
        assert_eq!(ok(&format!("Hash={h};hash={h}")), bad);
        let other = hex(&CertificateThumbprint::from_der(b"other"));
        assert_eq!(ok(&format!("Hash={other};Cert=\"{cert}\"")), bad);
        // broken values
        assert_eq!(ok("Hash=xyz"), bad);
        assert_eq!(ok("Hash"), bad);
        assert_eq!(ok("Subject=\"unterminated"), bad);
        assert_eq!(ok("Cert=\"%ZZ\""), bad);
        assert_eq!(ok("Cert=\"not pem\""), bad);
        assert_eq!(ok(&format!("Cert=\"{}\"", url_encode(&pem(b"")))), bad);
        let two = format!("{}{}", pem(der), pem(der));
        assert_eq!(ok(&format!("Cert=\"{}\"", url_encode(&two))), bad);
        assert_eq!(ok(&"a".repeat(MAX_FORWARDED_HEADER_LEN + 1)), bad);
    }

    #[test]
    fn client_cert() {
        let der = b"a certificate";
        let t = CertificateThumbprint::from_der(der);
        let v = format!(":{}:", STANDARD.encode(der));
        assert_eq!(thumbprint_from_client_cert(&v), Ok(t));
        assert_eq!(thumbprint_from_client_cert(&format!(" {v} ")), Ok(t));
        let bad = Err(MtlsError::MalformedForwardedCertificate);
        for v in [
            "",
            "::",
            ":",
            ":%%%:",
            &STANDARD.encode(der),
            &format!(":{}:", URL_SAFE_NO_PAD.encode([0xfb, 0xff, 0x01, 2])),
            &format!(":{}:, :{}:", STANDARD.encode(der), STANDARD.encode(der)),
        ] {
            assert_eq!(thumbprint_from_client_cert(v), bad, "{v}");
        }
    }
}
