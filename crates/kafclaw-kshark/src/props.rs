//! Java client properties files (`--props`): the `.properties` syntax, the JAAS
//! line of `sasl.jaas.config`, and the mapping of the usual Java and librdkafka
//! keys to a [`SettingsLayer`].

use std::path::{Path, PathBuf};

use kafclaw_group::SaslMechanism;

use crate::error::{Error, Result};
use crate::settings::{SettingsLayer, parse_brokers, parse_mechanism, parse_protocol};

/// One `key=value` entry and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropEntry {
    /// 1-based line number of the entry's first line.
    pub line: usize,
    /// The key, unescaped.
    pub key: String,
    /// The value, unescaped, continuation lines joined.
    pub value: String,
}

/// Parses `.properties` text.
///
/// Comments start with `#` or `!`; an entry is `key=value` or `key: value`; a line
/// ending in an odd number of backslashes continues on the next line (whose leading
/// blanks are dropped); `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\<char>` escapes are
/// honoured. Unlike Java, a line without `=` or `:` is an error rather than a key
/// with an empty value, so that stray text is reported instead of ignored.
pub fn parse_properties(text: &str) -> std::result::Result<Vec<PropEntry>, (usize, String)> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((idx, raw)) = lines.next() {
        let start = idx + 1;
        let first = raw.trim_start_matches([' ', '\t', '\u{c}']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = first.to_owned();
        loop {
            if ends_with_continuation(&current) {
                current.pop();
                logical.push_str(&current);
                match lines.next() {
                    Some((_, next)) => {
                        current = next.trim_start_matches([' ', '\t', '\u{c}']).to_owned();
                    }
                    None => break,
                }
            } else {
                logical.push_str(&current);
                break;
            }
        }
        let (key, value) = split_entry(&logical).map_err(|reason| (start, reason))?;
        let key = unescape(key).map_err(|reason| (start, reason))?;
        if key.is_empty() {
            return Err((start, "empty key before the separator".to_owned()));
        }
        let value = unescape(value).map_err(|reason| (start, reason))?;
        entries.push(PropEntry {
            line: start,
            key,
            value,
        });
    }
    Ok(entries)
}

fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=` or `:` (whitespace around it is dropped).
fn split_entry(line: &str) -> std::result::Result<(&str, &str), String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => {
                let key = line[..i].trim_end_matches([' ', '\t', '\u{c}']);
                let value = line[i + 1..].trim_start_matches([' ', '\t', '\u{c}']);
                return Ok((key, value));
            }
            _ => i += 1,
        }
    }
    Err(format!(
        "expected key=value or key: value, found {:?}",
        shorten(line.trim_end())
    ))
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s.to_owned()
    }
}

fn unescape(s: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let ch = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\u escape \\u{hex}"))?;
                out.push(ch);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// The credentials and login module of a `sasl.jaas.config` value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JaasLogin {
    /// The login module class, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub module: String,
    /// `username` option.
    pub username: Option<String>,
    /// `password` option.
    pub password: Option<String>,
}

impl JaasLogin {
    /// The mechanism the login module implies, when it implies exactly one.
    pub fn implied_mechanism(&self) -> Option<SaslMechanism> {
        self.module
            .ends_with(".PlainLoginModule")
            .then_some(SaslMechanism::Plain)
    }
}

/// Parses `Module flag key="value" key2=value2;` (the first login entry only).
pub fn parse_jaas(value: &str) -> std::result::Result<JaasLogin, String> {
    let s = value.trim();
    let mut rest = s;
    let take_word = |rest: &mut &str| -> String {
        let t = rest.trim_start();
        let end = t
            .find(|c: char| c.is_whitespace() || c == ';' || c == '=')
            .unwrap_or(t.len());
        let word = t[..end].to_owned();
        *rest = &t[end..];
        word
    };
    let module = take_word(&mut rest);
    if module.is_empty() {
        return Err("sasl.jaas.config is empty".to_owned());
    }
    let flag = take_word(&mut rest);
    if !matches!(
        flag.to_ascii_lowercase().as_str(),
        "required" | "requisite" | "sufficient" | "optional"
    ) {
        return Err(format!(
            "sasl.jaas.config: expected a control flag (required, requisite, sufficient, optional) after {module}, found {flag:?}"
        ));
    }
    let mut login = JaasLogin {
        module,
        ..JaasLogin::default()
    };
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with(';') {
            break;
        }
        let key = take_word(&mut rest);
        rest = rest.trim_start();
        let Some(after_eq) = rest.strip_prefix('=') else {
            return Err(format!("sasl.jaas.config: option {key:?} has no value"));
        };
        rest = after_eq.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end =
                end.ok_or_else(|| format!("sasl.jaas.config: unterminated quote in {key:?}"))?;
            rest = &quoted[end..];
            out
        } else {
            take_word(&mut rest)
        };
        match key.as_str() {
            "username" => login.username = Some(value),
            "password" => login.password = Some(value),
            _ => {}
        }
    }
    Ok(login)
}

/// The settings of a properties file, plus notes about keys that were ignored.
pub fn load_props(path: &Path, notes: &mut Vec<String>) -> Result<SettingsLayer> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::PropsRead {
        path: path.to_owned(),
        source,
    })?;
    props_layer(path, &text, notes)
}

/// [`load_props`] on text already read from `path`.
pub fn props_layer(path: &Path, text: &str, notes: &mut Vec<String>) -> Result<SettingsLayer> {
    let syntax = |line: usize, reason: String| Error::PropsSyntax {
        path: path.to_owned(),
        line,
        reason,
    };
    let entries = parse_properties(text).map_err(|(line, reason)| syntax(line, reason))?;
    let mut layer = SettingsLayer::new(format!("props:{}", path.display()));
    let base = path.parent().unwrap_or(Path::new(""));
    let file_path = |v: &str| -> PathBuf {
        let p = PathBuf::from(v.trim());
        if p.is_absolute() { p } else { base.join(p) }
    };
    let mut jaas: Option<(usize, JaasLogin)> = None;
    let mut truststore_type = None;
    let mut keystore_type = None;
    let mut truststore: Option<(usize, PathBuf)> = None;
    let mut keystore: Option<(usize, PathBuf)> = None;
    let mut ignored = Vec::new();
    let keyed = |e: &PropEntry, err: Error| match err {
        Error::Setting { reason, .. } => syntax(e.line, format!("{}: {reason}", e.key)),
        other => other,
    };
    for e in &entries {
        let v = e.value.trim();
        match e.key.as_str() {
            "bootstrap.servers" | "metadata.broker.list" => {
                layer.brokers = Some(parse_brokers(&e.key, v).map_err(|err| keyed(e, err))?);
            }
            "security.protocol" => {
                layer.security_protocol =
                    Some(parse_protocol(&e.key, v).map_err(|err| keyed(e, err))?);
            }
            "sasl.mechanism" | "sasl.mechanisms" => {
                layer.sasl_mechanism =
                    Some(parse_mechanism(&e.key, v).map_err(|err| keyed(e, err))?);
            }
            "sasl.jaas.config" => {
                let login = parse_jaas(v).map_err(|reason| syntax(e.line, reason))?;
                jaas = Some((e.line, login));
            }
            "sasl.username" => layer.sasl_username = Some(v.to_owned()),
            "sasl.password" => layer.sasl_password = Some(e.value.clone()),
            "ssl.ca.location" => layer.ca_file = Some(file_path(v)),
            "ssl.truststore.location" => truststore = Some((e.line, file_path(v))),
            "ssl.truststore.type" => truststore_type = Some(v.to_ascii_uppercase()),
            "ssl.certificate.location" => layer.cert_file = Some(file_path(v)),
            "ssl.key.location" => layer.key_file = Some(file_path(v)),
            "ssl.keystore.location" => keystore = Some((e.line, file_path(v))),
            "ssl.keystore.type" => keystore_type = Some(v.to_ascii_uppercase()),
            "client.id" => layer.client_id = Some(v.to_owned()),
            "ssl.endpoint.identification.algorithm" if v.is_empty() => notes.push(format!(
                "{}:{}: ssl.endpoint.identification.algorithm is empty; kshark still verifies the broker host name",
                path.display(),
                e.line
            )),
            "ssl.truststore.password"
            | "ssl.keystore.password"
            | "ssl.key.password"
            | "ssl.endpoint.identification.algorithm" => {}
            other => ignored.push(other.to_owned()),
        }
    }
    if let Some((line, login)) = jaas {
        if login.module.ends_with(".OAuthBearerLoginModule") {
            return Err(syntax(
                line,
                "sasl.jaas.config: OAUTHBEARER is not supported by kshark".to_owned(),
            ));
        }
        if layer.sasl_mechanism.is_none() {
            layer.sasl_mechanism = login.implied_mechanism();
        }
        if layer.sasl_username.is_none() {
            layer.sasl_username = login.username;
        }
        if layer.sasl_password.is_none() {
            layer.sasl_password = login.password;
        }
    }
    for (line, path_val, kind, store_type, target) in [
        (
            truststore.as_ref().map(|t| t.0),
            truststore.as_ref().map(|t| t.1.clone()),
            "ssl.truststore",
            truststore_type,
            0,
        ),
        (
            keystore.as_ref().map(|t| t.0),
            keystore.as_ref().map(|t| t.1.clone()),
            "ssl.keystore",
            keystore_type,
            1,
        ),
    ] {
        let (Some(line), Some(p)) = (line, path_val) else {
            continue;
        };
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let binary = matches!(store_type.as_deref(), Some("JKS" | "PKCS12"))
            || matches!(
                ext.as_str(),
                "jks" | "p12" | "pfx" | "keystore" | "truststore"
            );
        if binary {
            return Err(syntax(
                line,
                format!(
                    "{kind}.location {} is a JKS/PKCS#12 store; kshark reads PEM only. Convert it, e.g. `keytool -exportcert -rfc -keystore {} -alias <alias> > ca.pem` (or openssl pkcs12 -nodes), and set ssl.ca.location / ssl.certificate.location / ssl.key.location",
                    p.display(),
                    p.display()
                ),
            ));
        }
        if target == 0 {
            if layer.ca_file.is_none() {
                layer.ca_file = Some(p);
            }
        } else {
            // A PEM keystore holds the certificate chain and the private key together.
            if layer.cert_file.is_none() {
                layer.cert_file = Some(p.clone());
            }
            if layer.key_file.is_none() {
                layer.key_file = Some(p);
            }
        }
    }
    if !ignored.is_empty() {
        ignored.sort();
        ignored.dedup();
        notes.push(format!(
            "{}: ignored key(s) kshark does not use: {}",
            path.display(),
            ignored.join(", ")
        ));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafclaw_group::SecurityProtocol;

    fn layer(text: &str) -> (Result<SettingsLayer>, Vec<String>) {
        let mut notes = Vec::new();
        let r = props_layer(Path::new("/etc/kafka/client.properties"), text, &mut notes);
        (r, notes)
    }

    #[test]
    fn syntax_comments_separators_escapes_and_continuations() {
        let text = "# comment\n! also a comment\n\n  a = 1\nb:2\nc=x\\\n   y\\\n  z\nd=tab\\there\\u0041\ne=\\\\\nf\\=g=h\n";
        let e = parse_properties(text).unwrap();
        let pairs: Vec<(&str, &str, usize)> = e
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), p.line))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", "1", 4),
                ("b", "2", 5),
                ("c", "xyz", 6),
                ("d", "tab\thereA", 9),
                ("e", "\\", 10),
                ("f=g", "h", 11),
            ]
        );
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let err = parse_properties("a=1\n\nthis is not a property\n").unwrap_err();
        assert_eq!(err.0, 3);
        assert!(err.1.contains("key=value"), "{}", err.1);
        assert_eq!(parse_properties("=x\n").unwrap_err().0, 1);
        assert_eq!(parse_properties("a=1\nb=\\u12\n").unwrap_err().0, 2);
        let (r, _) = layer("bootstrap.servers=h:1\nsecurity.protocol=SASL_TLS\n");
        let err = r.unwrap_err().to_string();
        assert!(err.contains("client.properties:2"), "{err}");
        assert!(err.contains("security.protocol"), "{err}");
    }

    #[test]
    fn jaas_config_gives_user_password_and_mechanism() {
        let (r, notes) = layer(
            "bootstrap.servers=SASL_SSL://pkc.example:9092\nsecurity.protocol=SASL_SSL\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n   required username=\"KEY\" password=\"se\\\\\\\"cr;et\";\n\
             acks=all\n",
        );
        let l = r.unwrap();
        assert_eq!(
            l.brokers.as_deref(),
            Some(&["pkc.example:9092".to_owned()][..])
        );
        assert_eq!(l.security_protocol, Some(SecurityProtocol::SaslSsl));
        assert_eq!(l.sasl_mechanism, Some(SaslMechanism::Plain));
        assert_eq!(l.sasl_username.as_deref(), Some("KEY"));
        assert_eq!(l.sasl_password.as_deref(), Some("se\"cr;et"));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("acks"), "{notes:?}");
    }

    #[test]
    fn scram_jaas_keeps_the_explicit_mechanism() {
        let (r, _) = layer(
            "bootstrap.servers=h:1\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=alice password=pw;\n",
        );
        let l = r.unwrap();
        assert_eq!(l.sasl_mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(l.sasl_username.as_deref(), Some("alice"));
        assert_eq!(l.sasl_password.as_deref(), Some("pw"));
        assert!(parse_jaas("Module").is_err());
        assert!(parse_jaas("Module required username=\"x").is_err());
        assert!(parse_jaas("Module required username").is_err());
    }

    #[test]
    fn librdkafka_names_and_relative_paths() {
        let (r, _) = layer(
            "metadata.broker.list=h:1\nsecurity.protocol=ssl\nssl.ca.location=ca.pem\n\
             ssl.certificate.location=/abs/client.pem\nssl.key.location=client.key\n\
             sasl.mechanisms=PLAIN\nsasl.username=u\nsasl.password=p\n",
        );
        let l = r.unwrap();
        assert_eq!(l.ca_file, Some(PathBuf::from("/etc/kafka/ca.pem")));
        assert_eq!(l.cert_file, Some(PathBuf::from("/abs/client.pem")));
        assert_eq!(l.key_file, Some(PathBuf::from("/etc/kafka/client.key")));
        assert_eq!(l.sasl_username.as_deref(), Some("u"));
    }

    #[test]
    fn pem_stores_are_used_and_jks_is_refused() {
        let (r, _) = layer(
            "bootstrap.servers=h:1\nssl.truststore.type=PEM\nssl.truststore.location=/t/ca.pem\nssl.keystore.location=/t/client-bundle.pem\n",
        );
        let l = r.unwrap();
        assert_eq!(l.ca_file, Some(PathBuf::from("/t/ca.pem")));
        assert_eq!(l.cert_file, Some(PathBuf::from("/t/client-bundle.pem")));
        assert_eq!(l.key_file, l.cert_file);
        let (r, _) = layer("bootstrap.servers=h:1\nssl.truststore.location=/t/truststore.jks\n");
        let err = r.unwrap_err().to_string();
        assert!(err.contains(":2:"), "{err}");
        assert!(err.contains("PEM"), "{err}");
        assert!(err.contains("keytool"), "{err}");
    }

    #[test]
    fn unknown_keys_are_noted_once() {
        let (r, notes) =
            layer("bootstrap.servers=h:1\nschema.registry.url=http://x\nacks=1\nacks=all\n");
        assert!(r.is_ok());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("acks, schema.registry.url"), "{notes:?}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let mut notes = Vec::new();
        let err = load_props(Path::new("/nonexistent/x.properties"), &mut notes).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/x.properties"),
            "{err}"
        );
    }
}
