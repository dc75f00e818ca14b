//! A deterministic generator of realistic log volume.
//!
//! It replays real records (from `../shared/corpus` when present, else the
//! project's `testdata/samples`) with varied times, principals, IPs and
//! accounts, and writes them in the containers the providers deliver:
//! CloudTrail `.json.gz` objects in the AWS key layout, Kubernetes audit
//! JSON lines, Entra ID `PT1H.json`, VPC Flow Logs and ALB `.log.gz`,
//! syslog. The same seed always gives the same bytes. Every benchmark in
//! the project takes its data from here.

mod rng;
mod templates;

pub use rng::SplitMix64;
pub use templates::Templates;

use std::io::Write;

use mamori_event::Timestamp;
use serde_json::Value;

/// What to vary and where.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Seed; the same seed gives the same output.
    pub seed: u64,
    /// First event time.
    pub start: Timestamp,
    /// Events are spread over this many seconds.
    pub span_secs: i64,
    /// Distinct AWS accounts.
    pub accounts: usize,
    /// Distinct principals.
    pub principals: usize,
    /// Distinct source IPs of the regular traffic.
    pub ips: usize,
    /// One address in this many comes from outside the pool and is almost
    /// surely seen once (a scanner, a one-off login, an attacker): the needles
    /// of an investigation. 0: none.
    pub one_off_ip_every: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 42,
            start: Timestamp::parse_iso8601("2026-10-01T00:00:00Z").unwrap_or_default(),
            span_secs: 7 * 86_400,
            accounts: 20,
            principals: 200,
            ips: 5_000,
            one_off_ip_every: 1_000,
        }
    }
}

/// One generated object: its key (path) and bytes.
pub struct Object {
    /// Key in the provider's layout, relative to the bucket or directory.
    pub key: String,
    /// Content (compressed where the provider compresses).
    pub bytes: Vec<u8>,
    /// Events in it.
    pub events: usize,
}

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
];

/// Generates objects from templates.
pub struct Generator {
    cfg: GenConfig,
    rng: SplitMix64,
    /// Draws the one-off addresses apart from `rng`, so that everything
    /// else generated is the same with or without them.
    one_off: SplitMix64,
    templates: Templates,
    seq: u64,
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

impl Generator {
    /// A generator over `templates`.
    pub fn new(cfg: GenConfig, templates: Templates) -> Self {
        Generator {
            rng: SplitMix64::new(cfg.seed),
            one_off: SplitMix64::new(cfg.seed ^ 0x6F6E_652D_6F66_6621),
            cfg,
            templates,
            seq: 0,
        }
    }

    fn account(&mut self) -> String {
        format!(
            "{:012}",
            100_000_000_000u64 + self.rng.below(self.cfg.accounts as u64) * 7_919
        )
    }

    fn ip(&mut self) -> String {
        let n = self.rng.below(self.cfg.ips as u64) as u32;
        if self.cfg.one_off_ip_every > 0 && self.one_off.below(self.cfg.one_off_ip_every) == 0 {
            let a = self.one_off.next_u64();
            return format!(
                "{}.{}.{}.{}",
                1 + (a % 222),
                (a >> 8) & 255,
                (a >> 16) & 255,
                1 + ((a >> 24) % 254)
            );
        }
        // Mostly public-looking addresses, some private.
        if n.is_multiple_of(10) {
            format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
        } else {
            format!(
                "{}.{}.{}.{}",
                23 + (n % 180),
                (n >> 5) & 255,
                (n >> 9) & 255,
                1 + (n % 250)
            )
        }
    }

    fn time(&mut self) -> Timestamp {
        Timestamp(self.cfg.start.0 + self.rng.below(self.cfg.span_secs as u64 * 1_000_000) as i64)
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    fn key_suffix(&mut self) -> String {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..16)
            .map(|_| ABC[self.rng.below(ABC.len() as u64) as usize] as char)
            .collect()
    }

    /// One CloudTrail record varied from a template, at `time`.
    pub fn cloudtrail_record(&mut self, time: Timestamp, account: &str, region: &str) -> Value {
        let mut v = self.templates.cloudtrail
            [self.rng.below(self.templates.cloudtrail.len() as u64) as usize]
            .clone();
        let p = self.rng.below(self.cfg.principals as u64);
        let ip = self.ip();
        let id = self.uuid();
        let req = self.uuid();
        if let Value::Object(m) = &mut v {
            m.insert(
                "eventTime".into(),
                Value::String(format!("{}", Timestamp(time.0 - time.0 % 1_000_000))),
            );
            m.insert("eventID".into(), Value::String(id));
            m.insert("requestID".into(), Value::String(req));
            m.insert("awsRegion".into(), Value::String(region.into()));
            m.insert("recipientAccountId".into(), Value::String(account.into()));
            if m.get("sourceIPAddress")
                .and_then(Value::as_str)
                .is_some_and(|s| s.chars().next().is_some_and(|c| c.is_ascii_digit()))
            {
                m.insert("sourceIPAddress".into(), Value::String(ip));
            }
            m.remove("@timestamp");
            m.remove("@version");
            if let Some(Value::Object(u)) = m.get_mut("userIdentity") {
                let name = format!("user-{p:04}");
                let kind = u
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("IAMUser")
                    .to_owned();
                u.insert("accountId".into(), Value::String(account.into()));
                u.insert("principalId".into(), Value::String(format!("AIDA{p:016}")));
                match kind.as_str() {
                    "AssumedRole" => {
                        u.insert(
                            "arn".into(),
                            Value::String(format!(
                                "arn:aws:sts::{account}:assumed-role/role-{}/{name}",
                                p % 17
                            )),
                        );
                    }
                    "Root" => {
                        u.insert(
                            "arn".into(),
                            Value::String(format!("arn:aws:iam::{account}:root")),
                        );
                    }
                    _ => {
                        u.insert(
                            "arn".into(),
                            Value::String(format!("arn:aws:iam::{account}:user/{name}")),
                        );
                        u.insert("userName".into(), Value::String(name));
                    }
                }
                if u.contains_key("accessKeyId") {
                    u.insert(
                        "accessKeyId".into(),
                        Value::String(format!("AKIA{:016}", p * 31 + 7)),
                    );
                }
            }
        }
        v
    }

    /// A CloudTrail S3 delivery object: `{"Records":[…]}` gzip'd, under
    /// `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`.
    pub fn cloudtrail_object(&mut self, events: usize) -> Object {
        let account = self.account();
        let region = REGIONS[self.rng.below(REGIONS.len() as u64) as usize];
        let base = self.time();
        let mut body = Vec::with_capacity(events * 1500);
        body.extend_from_slice(b"{\"Records\":[");
        for i in 0..events {
            if i > 0 {
                body.push(b',');
            }
            let t = Timestamp(base.0 + self.rng.below(300_000_000) as i64);
            let rec = self.cloudtrail_record(t, &account, region);
            // Serializing a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut body, &rec);
        }
        body.extend_from_slice(b"]}");
        let delivery = Timestamp(base.0 + 300_000_000);
        let (y, m, d) = delivery.date();
        let stamp = delivery.to_string();
        let hhmm = format!("{}{}", &stamp[11..13], &stamp[14..16]);
        let suffix = self.key_suffix();
        self.seq += 1;
        Object {
            key: format!("AWSLogs/{account}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}/{account}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{hhmm}Z_{suffix}.json.gz"),
            bytes: gzip(&body),
            events,
        }
    }

    /// Kubernetes audit events as the API server's log file (JSON lines).
    pub fn k8s_object(&mut self, events: usize) -> Object {
        let mut body = Vec::new();
        for _ in 0..events {
            let mut v = self.templates.k8s
                [self.rng.below(self.templates.k8s.len() as u64) as usize]
                .clone();
            let t = self.time();
            let id = self.uuid();
            let ip = self.ip();
            let p = self.rng.below(self.cfg.principals as u64);
            if let Value::Object(m) = &mut v {
                m.insert("auditID".into(), Value::String(id));
                m.insert(
                    "requestReceivedTimestamp".into(),
                    Value::String(t.to_string()),
                );
                m.insert(
                    "stageTimestamp".into(),
                    Value::String(Timestamp(t.0 + 1500).to_string()),
                );
                m.insert("sourceIPs".into(), serde_json::json!([ip]));
                if let Some(Value::Object(u)) = m.get_mut("user") {
                    u.insert("username".into(), Value::String(format!("user-{p:04}")));
                }
            }
            let _ = serde_json::to_writer(&mut body, &v);
            body.push(b'\n');
        }
        self.seq += 1;
        Object {
            key: format!("k8s/kube-apiserver-audit-{:06}.log", self.seq),
            bytes: body,
            events,
        }
    }

    /// Entra ID sign-ins as a diagnostic-settings `PT1H.json` (JSON lines).
    pub fn entra_object(&mut self, events: usize) -> Object {
        let mut body = Vec::new();
        let hour = self.time();
        for _ in 0..events {
            let mut v = self.templates.entra
                [self.rng.below(self.templates.entra.len() as u64) as usize]
                .clone();
            let t =
                Timestamp(hour.0 - hour.0 % 3_600_000_000 + self.rng.below(3_600_000_000) as i64)
                    .to_string();
            let ip = self.ip();
            let id = self.uuid();
            let p = self.rng.below(self.cfg.principals as u64);
            if let Value::Object(m) = &mut v {
                m.insert("time".into(), Value::String(t.clone()));
                m.insert("callerIpAddress".into(), Value::String(ip.clone()));
                if let Some(Value::Object(pr)) = m.get_mut("properties") {
                    pr.insert("createdDateTime".into(), Value::String(t));
                    pr.insert("id".into(), Value::String(id));
                    pr.insert("ipAddress".into(), Value::String(ip));
                    pr.insert(
                        "userPrincipalName".into(),
                        Value::String(format!("user-{p:04}@example.com")),
                    );
                }
            }
            let _ = serde_json::to_writer(&mut body, &v);
            body.push(b'\n');
        }
        let (y, mo, d) = hour.date();
        let h = &hour.to_string()[11..13];
        self.seq += 1;
        Object { key: format!("insights-logs-signinlogs/tenantId=00000000-0000-0000-0000-{:012}/y={y:04}/m={mo:02}/d={d:02}/h={h}/m=00/PT1H.json", self.seq), bytes: body, events }
    }

    /// VPC Flow Logs in the default format, gzip'd, in the AWS key layout.
    pub fn vpc_object(&mut self, events: usize) -> Object {
        let account = self.account();
        let mut body = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
        let base = self.time();
        for _ in 0..events {
            let (src, dst) = (self.ip(), self.ip());
            let start = (base.0 / 1_000_000) + self.rng.below(300) as i64;
            let action = if self.rng.below(5) == 0 {
                "REJECT"
            } else {
                "ACCEPT"
            };
            let dport = [22, 443, 80, 3389, 5432, 53][self.rng.below(6) as usize];
            body.push_str(&format!(
                "2 {account} eni-{:017x} {src} {dst} {} {dport} 6 {} {} {start} {} {action} OK\n",
                self.rng.below(1 << 40),
                1024 + self.rng.below(60000),
                1 + self.rng.below(100),
                40 + self.rng.below(100_000),
                start + 60
            ));
        }
        let (y, m, d) = base.date();
        self.seq += 1;
        Object { key: format!("AWSLogs/{account}/vpcflowlogs/us-east-1/{y:04}/{m:02}/{d:02}/{account}_vpcflowlogs_us-east-1_fl-{:08x}_{y:04}{m:02}{d:02}T0000Z_{:08x}.log.gz", self.seq, self.rng.next_u64() as u32), bytes: gzip(body.as_bytes()), events }
    }

    /// ALB access-log entries, gzip'd, in the AWS key layout.
    pub fn alb_object(&mut self, events: usize) -> Object {
        let account = self.account();
        let base = self.time();
        let mut body = String::new();
        const PATHS: &[&str] = &[
            "/",
            "/login",
            "/api/orders",
            "/admin/export?format=csv",
            "/static/app.js",
            "/.env",
            "/wp-login.php",
        ];
        const AGENTS: &[&str] = &[
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "sqlmap/1.8",
        ];
        for _ in 0..events {
            let t = Timestamp(base.0 + self.rng.below(300_000_000) as i64);
            let client = self.ip();
            let path = PATHS[self.rng.below(PATHS.len() as u64) as usize];
            let agent = AGENTS[self.rng.below(AGENTS.len() as u64) as usize];
            let status = [200, 200, 200, 302, 403, 404, 500][self.rng.below(7) as usize];
            let trace = self.uuid();
            body.push_str(&format!(
                "https {t} app/web/50dc6c495c0c9188 {client}:{} 10.0.2.15:8080 0.001 0.0{} 0.000 {status} {status} {} {} \"GET https://shop.example.com:443{path} HTTP/1.1\" \"{agent}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:{account}:targetgroup/web/73e2d6bc24d8a067 \"Root=1-{}\" \"shop.example.com\" \"-\" 0 {t} \"forward\" \"-\" \"-\" \"10.0.2.15:8080\" \"{status}\" \"-\" \"-\" TID_{}\n",
                1024 + self.rng.below(60000),
                self.rng.below(99),
                200 + self.rng.below(2000),
                300 + self.rng.below(50_000),
                &trace[..24],
                &trace[24..]
            ));
        }
        let (y, m, d) = base.date();
        self.seq += 1;
        Object { key: format!("AWSLogs/{account}/elasticloadbalancing/us-east-1/{y:04}/{m:02}/{d:02}/{account}_elasticloadbalancing_us-east-1_app.web.50dc6c495c0c9188_{y:04}{m:02}{d:02}T0000Z_10.0.0.5_{:08x}.log.gz", self.rng.next_u64() as u32), bytes: gzip(body.as_bytes()), events }
    }

    /// sshd and sudo lines as `/var/log/auth.log` holds them (RFC 3164).
    pub fn syslog_object(&mut self, events: usize) -> Object {
        let mut body = String::new();
        for _ in 0..events {
            let t = self.time().to_string();
            let (_, mo, d) = self.time().date();
            let month = mamori_event::MONTHS[(mo - 1) as usize];
            let ip = self.ip();
            let p = self.rng.below(self.cfg.principals as u64);
            let pid = 1000 + self.rng.below(60000);
            let port = 1024 + self.rng.below(60000);
            let msg = match self.rng.below(4) {
                0 => format!("sshd[{pid}]: Failed password for invalid user admin{p} from {ip} port {port} ssh2"),
                1 => format!("sshd[{pid}]: Accepted publickey for user-{p:04} from {ip} port {port} ssh2"),
                2 => format!("sshd[{pid}]: Invalid user test{p} from {ip} port {port}"),
                _ => format!("sudo:  user-{p:04} : TTY=pts/0 ; PWD=/home/user-{p:04} ; USER=root ; COMMAND=/usr/bin/id"),
            };
            body.push_str(&format!(
                "{month} {d:>2} {} host-{} {msg}\n",
                &t[11..19],
                p % 7
            ));
        }
        self.seq += 1;
        Object {
            key: format!("syslog/auth-{:06}.log", self.seq),
            bytes: body.into_bytes(),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn templates() -> Templates {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/samples");
        Templates::load(&[&root])
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let a = Generator::new(GenConfig::default(), templates()).cloudtrail_object(50);
        let b = Generator::new(GenConfig::default(), templates()).cloudtrail_object(50);
        let c = Generator::new(
            GenConfig {
                seed: 7,
                ..GenConfig::default()
            },
            templates(),
        )
        .cloudtrail_object(50);
        assert_eq!((a.key.as_str(), &a.bytes), (b.key.as_str(), &b.bytes));
        assert_ne!(a.bytes, c.bytes);
    }

    #[test]
    fn every_kind_is_read_back_whole_by_the_parser() {
        let t = templates();
        assert!(t.complete());
        let mut g = Generator::new(GenConfig::default(), t);
        let objects = [
            g.cloudtrail_object(300),
            g.k8s_object(100),
            g.entra_object(100),
            g.vpc_object(100),
            g.alb_object(100),
            g.syslog_object(100),
        ];
        let want = [
            mamori_event::SourceKind::Cloudtrail,
            mamori_event::SourceKind::K8sAudit,
            mamori_event::SourceKind::EntraSignin,
            mamori_event::SourceKind::VpcFlow,
            mamori_event::SourceKind::Alb,
            mamori_event::SourceKind::Syslog,
        ];
        for (o, kind) in objects.iter().zip(want) {
            let out = mamori_parse::parse_to_vec(
                &o.key,
                &o.bytes,
                &mamori_parse::ParseOptions::default(),
            );
            assert_eq!(
                (out.summary.normalized as usize, out.summary.rejected),
                (o.events, 0),
                "{}: {:?}",
                o.key,
                out.rejected.first()
            );
            assert_eq!(out.summary.main_source(), Some(kind), "{}", o.key);
        }
        assert!(
            objects[0].key.starts_with("AWSLogs/")
                && objects[0].key.contains("/CloudTrail/")
                && objects[0].key.ends_with(".json.gz")
        );
        let uids: std::collections::HashSet<String> = mamori_parse::parse_to_vec(
            &objects[0].key,
            &objects[0].bytes,
            &mamori_parse::ParseOptions::default(),
        )
        .events
        .into_iter()
        .map(|e| e.uid)
        .collect();
        assert_eq!(uids.len(), 300, "event ids are unique");
    }

    /// Regular addresses repeat (a pool of 5,000); about one in a thousand is
    /// a one-off, seen once. Drawn apart, they change nothing else.
    #[test]
    fn one_off_addresses_are_rare_needles_and_change_nothing_else() {
        let records = |every: u64| {
            let mut g = Generator::new(
                GenConfig {
                    one_off_ip_every: every,
                    ..GenConfig::default()
                },
                templates(),
            );
            (0..20_000)
                .map(|_| g.cloudtrail_record(Timestamp(0), "111122223333", "us-east-1"))
                .collect::<Vec<Value>>()
        };
        let (with, without) = (records(1_000), records(0));
        let ip = |v: &Value| v["sourceIPAddress"].as_str().map(str::to_owned);
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        let mut changed = 0;
        for (a, b) in with.iter().zip(&without) {
            assert_eq!(a["eventID"], b["eventID"]);
            if ip(a) != ip(b) {
                changed += 1;
            }
            if let (Some(a), Some(b)) = (ip(a), ip(b)) {
                seen.entry(a).or_default().0 += 1;
                seen.entry(b).or_default().1 += 1;
            }
        }
        let once = seen.values().filter(|(w, wo)| *w == 1 && *wo == 0).count();
        assert!(
            (5..=60).contains(&changed),
            "{changed} one-off addresses in 20,000"
        );
        assert!(once * 10 >= changed * 9, "{once} of {changed} seen once");
    }
}
