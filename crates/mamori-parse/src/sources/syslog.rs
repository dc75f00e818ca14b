//! Syslog lines: RFC 5424, RFC 3164 (with or without `<PRI>`, as files under
//! `/var/log` hold them), and the ISO-timestamped variant rsyslog writes.
//! OpenSSH and sudo messages are read as authentication events.

use mamori_event::{activity, class, severity, status, Event, SourceKind, TimeFlag, Timestamp};
use serde_json::{Map, Value};

use super::{ip, new_event};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::Syslog;

/// Whether a line starts like syslog.
pub(crate) fn looks_like(line: &str, reference: Timestamp) -> bool {
    pri(line).is_some() || Timestamp::parse_bsd_syslog(line, reference).is_some()
}

fn pri(line: &str) -> Option<(u8, usize)> {
    let b = line.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let close = b.iter().take(5).position(|&c| c == b'>')?;
    let digits = &line[1..close];
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let p: u8 = digits.parse().ok().filter(|p| *p <= 191)?;
    Some((p, close + 1))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Splits the next space-delimited token.
fn token(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    }
}

/// Parses RFC 5424 STRUCTURED-DATA; returns the elements and the rest.
fn structured_data(s: &str) -> Result<(Map<String, Value>, &str), String> {
    let mut out = Map::new();
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((out, rest.strip_prefix(' ').unwrap_or(rest)));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let id_end = s[i..]
            .find([' ', ']'])
            .map(|k| i + k)
            .ok_or("structured data element not closed")?;
        let id = s[i + 1..id_end].to_owned();
        let mut params = Map::new();
        i = id_end;
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                Some(_) => {
                    let eq = s[i..]
                        .find('=')
                        .map(|k| i + k)
                        .ok_or("structured data parameter without '='")?;
                    let name = s[i..eq].to_owned();
                    if b.get(eq + 1) != Some(&b'"') {
                        return Err("structured data value not quoted".into());
                    }
                    let mut j = eq + 2;
                    let mut val = String::new();
                    loop {
                        match b.get(j) {
                            None => return Err("structured data value not closed".into()),
                            Some(b'\\') if matches!(b.get(j + 1), Some(b'"' | b'\\' | b']')) => {
                                val.push(b[j + 1] as char);
                                j += 2;
                            }
                            Some(b'"') => break,
                            Some(_) => {
                                let ch = s[j..]
                                    .chars()
                                    .next()
                                    .ok_or("structured data value not closed")?;
                                val.push(ch);
                                j += ch.len_utf8();
                            }
                        }
                    }
                    params.insert(name, Value::String(val));
                    i = j + 1;
                }
                None => return Err("structured data element not closed".into()),
            }
        }
        out.insert(id, Value::Object(params));
    }
    let rest = &s[i..];
    Ok((out, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// Normalizes one syslog line; `reference` places RFC 3164 dates in a year.
pub(crate) fn normalize(line: &str, reference: Timestamp) -> Result<Event, RejectReason> {
    let mut f = Map::new();
    let (p, mut rest) = match pri(line) {
        Some((p, n)) => (Some(p), &line[n..]),
        None => (None, line),
    };
    if let Some(p) = p {
        f.insert("pri".into(), p.into());
        f.insert("facility".into(), (p / 8).into());
        f.insert("severity".into(), (p % 8).into());
    }
    let (time, host, app, procid, msg, inferred);
    if p.is_some() && rest.starts_with("1 ") {
        // RFC 5424
        f.insert("version".into(), 1.into());
        rest = &rest[2..];
        let (ts, r) = token(rest);
        time = match nil(ts) {
            None => None,
            Some(t) => Some(Timestamp::parse_iso8601(t).ok_or_else(|| {
                RejectReason::shape(KIND, format!("timestamp {t:?} is not RFC 3339"))
            })?),
        };
        let (h, r) = token(r);
        let (a, r) = token(r);
        let (pid, r) = token(r);
        let (msgid, r) = token(r);
        let (sd, r) = structured_data(r).map_err(|e| RejectReason::shape(KIND, e))?;
        if let Some(m) = nil(msgid) {
            f.insert("msgid".into(), m.into());
        }
        if !sd.is_empty() {
            f.insert("structured_data".into(), Value::Object(sd));
        }
        (host, app, procid, msg, inferred) = (
            nil(h),
            nil(a),
            nil(pid),
            r.trim_start_matches('\u{feff}'),
            false,
        );
    } else {
        // RFC 3164, or the ISO-timestamped form.
        let (ts, after, was_inferred) = match Timestamp::parse_bsd_syslog(rest, reference) {
            Some((t, n)) => (Some(t), &rest[n..], true),
            None => {
                let (tok, r) = token(rest);
                match Timestamp::parse_iso8601(tok) {
                    Some(t) => (Some(t), r, false),
                    None => {
                        return Err(RejectReason::shape(
                            KIND,
                            "no RFC 3164 or RFC 3339 timestamp after the priority",
                        ))
                    }
                }
            }
        };
        let after = after.trim_start();
        let (h, r) = token(after);
        // TAG[PID]: MSG — a line without a tag keeps the whole rest as message.
        let (tag, pid, m) = match r.find(": ") {
            Some(k) if !r[..k].contains(' ') => {
                let t = &r[..k];
                match t.find('[') {
                    Some(b) if t.ends_with(']') => {
                        (Some(&t[..b]), Some(&t[b + 1..t.len() - 1]), &r[k + 2..])
                    }
                    _ => (Some(t), None, &r[k + 2..]),
                }
            }
            _ => (None, None, r),
        };
        (time, host, app, procid, msg, inferred) = (ts, nil(h), tag, pid, m, was_inferred);
    }
    let mut ev = new_event(KIND, time, line);
    if inferred {
        ev.flag_time(TimeFlag::YearInferred);
    }
    ev.product = "syslog".into();
    ev.event_code = app.map(str::to_owned);
    ev.dst.hostname = host.map(str::to_owned);
    ev.message = Some(msg.to_owned()).filter(|m| !m.is_empty());
    ev.severity_id = match p.map(|p| p % 8) {
        Some(0..=2) => severity::CRITICAL,
        Some(3) => severity::HIGH,
        Some(4) => severity::LOW,
        _ => severity::INFORMATIONAL,
    };
    for (k, v) in [("hostname", host), ("appname", app), ("procid", procid)] {
        if let Some(v) = v {
            f.insert(k.into(), v.into());
        }
    }
    f.insert("message".into(), msg.into());
    ev.set_class(class::BASE, 0);
    match app {
        Some("sshd") => sshd(&mut ev, msg, &mut f),
        Some("sudo") => sudo(&mut ev, msg, &mut f),
        _ => {}
    }
    ev.fields = Some(Value::Object(f).to_string());
    Ok(ev)
}

fn words(s: &str) -> Vec<&str> {
    s.split_ascii_whitespace().collect()
}

/// The word after `key` in `w`.
fn after<'a>(w: &[&'a str], key: &str) -> Option<&'a str> {
    w.iter()
        .position(|x| *x == key)
        .and_then(|i| w.get(i + 1))
        .copied()
}

fn auth(
    ev: &mut Event,
    f: &mut Map<String, Value>,
    act: u32,
    ok: bool,
    user: Option<&str>,
    from: Option<&str>,
    port: Option<&str>,
) {
    ev.set_class(class::AUTHENTICATION, act);
    ev.status_id = if ok { status::SUCCESS } else { status::FAILURE };
    ev.api.service = Some("ssh".into())
        .filter(|_| ev.event_code.as_deref() == Some("sshd"))
        .or(ev.event_code.clone());
    if let Some(u) = user {
        ev.actor.user_name = Some(u.to_owned());
        f.insert("user".into(), u.into());
    }
    if let Some(ip) = ip(from.map(str::to_owned)) {
        f.insert("src_ip".into(), ip.clone().into());
        ev.src.ip = Some(ip);
    }
    if let Some(p) = port.and_then(|p| p.parse::<u16>().ok()) {
        ev.src.port = Some(p);
        f.insert("src_port".into(), p.into());
    }
}

fn sshd(ev: &mut Event, msg: &str, f: &mut Map<String, Value>) {
    let w = words(msg);
    let user_in = |w: &[&str], from: usize| -> Option<String> {
        // "for invalid user X" / "for X"
        let tail = &w[from..];
        let i = tail.iter().position(|x| *x == "for")?;
        let t = &tail[i + 1..];
        if t.first() == Some(&"invalid") && t.get(1) == Some(&"user") {
            t.get(2).map(|s| (*s).to_owned())
        } else {
            t.first().map(|s| (*s).to_owned())
        }
    };
    match w.as_slice() {
        ["Accepted", method, ..] => {
            let user = user_in(&w, 0);
            auth(
                ev,
                f,
                activity::LOGON,
                true,
                user.as_deref(),
                after(&w, "from"),
                after(&w, "port"),
            );
            f.insert("auth_method".into(), (*method).into());
        }
        ["Failed", method, ..] => {
            let user = user_in(&w, 0);
            auth(
                ev,
                f,
                activity::LOGON,
                false,
                user.as_deref(),
                after(&w, "from"),
                after(&w, "port"),
            );
            f.insert("auth_method".into(), (*method).into());
        }
        ["Invalid", "user", user, "from", from, ..] => auth(
            ev,
            f,
            activity::LOGON,
            false,
            Some(user),
            Some(from),
            after(&w, "port"),
        ),
        ["error:", "maximum", "authentication", ..] => {
            let user = user_in(&w, 0);
            auth(
                ev,
                f,
                activity::LOGON,
                false,
                user.as_deref(),
                after(&w, "from"),
                after(&w, "port"),
            );
        }
        ["Disconnected", "from", "user", user, from, "port", port, ..] => auth(
            ev,
            f,
            activity::LOGOFF,
            true,
            Some(user),
            Some(from),
            Some(port),
        ),
        [pam, "session", state @ ("opened" | "closed"), "for", "user", user, ..]
            if pam.starts_with("pam_unix") =>
        {
            let user = user.split('(').next();
            let act = if *state == "opened" {
                activity::LOGON
            } else {
                activity::LOGOFF
            };
            auth(ev, f, act, true, user, None, None);
        }
        [pam, "authentication", "failure;", ..] if pam.starts_with("pam_unix") => {
            pam_failure(ev, msg, f)
        }
        _ => {}
    }
}

fn pam_failure(ev: &mut Event, msg: &str, f: &mut Map<String, Value>) {
    let kv = |k: &str| {
        msg.split_ascii_whitespace()
            .find_map(|t| t.strip_prefix(k))
            .filter(|v| !v.is_empty())
    };
    let user = kv("user=");
    auth(ev, f, activity::LOGON, false, user, kv("rhost="), None);
}

fn sudo(ev: &mut Event, msg: &str, f: &mut Map<String, Value>) {
    if msg
        .trim_start()
        .starts_with("pam_unix(sudo:auth): authentication failure;")
    {
        return pam_failure(ev, msg, f);
    }
    // "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"
    let Some((user, rest)) = msg.split_once(" : ") else {
        return;
    };
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return;
    }
    let mut failed = false;
    for part in rest.split(" ; ") {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("USER=") {
            f.insert("target_user".into(), v.into());
            ev.resources.push(mamori_event::Resource {
                name: Some(v.to_owned()),
                kind: Some("user".into()),
                ..Default::default()
            });
        } else if let Some(v) = part.strip_prefix("COMMAND=") {
            f.insert("command".into(), v.into());
        } else if part.contains("incorrect password attempt")
            || part.contains("user NOT in sudoers")
            || part.contains("command not allowed")
        {
            failed = true;
            ev.status_detail = Some(part.to_owned());
        }
    }
    auth(ev, f, 7, !failed, Some(user), None, None);
}
