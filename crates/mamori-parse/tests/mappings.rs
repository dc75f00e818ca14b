//! Hand-checked mappings: for one record of each source and shape, the
//! fields an analyst relies on, written out from reading the record. The
//! goldens pin everything; these say what was verified and why.

use mamori_event::{activity, class, status, Event, SourceKind, TimeFlag};
use mamori_parse::{parse_to_vec, ParseOptions, Timestamp};

fn one(name: &str, data: &str) -> Event {
    let opts = ParseOptions {
        ingest_time: Timestamp::parse_iso8601("2026-01-01T00:00:00Z").unwrap_or_default(),
        ..ParseOptions::default()
    };
    let mut out = parse_to_vec(name, data.as_bytes(), &opts);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.events.len(), 1);
    out.events.remove(0)
}

fn corpus(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn cloudtrail_console_login_without_mfa() {
    // Stratus "console-login-without-mfa": an IAM user, MFAUsed "No", login succeeded.
    let e = one(
        "x.json",
        &corpus(
            "stratus-red-team-detonations/aws/aws.initial-access.console-login-without-mfa.json",
        ),
    );
    assert_eq!(
        (e.source, e.class_uid, e.activity_id, e.status_id),
        (
            SourceKind::Cloudtrail,
            class::AUTHENTICATION,
            activity::LOGON,
            status::SUCCESS
        )
    );
    assert_eq!(e.actor.is_mfa, Some(false));
    assert_eq!(e.actor.user_type.as_deref(), Some("IAMUser"));
    assert_eq!(
        e.actor.user_name.as_deref(),
        Some("stratus-red-team-nmfalu-jfzdtsvchl")
    );
    assert_eq!(
        e.src.ip.as_deref(),
        Some("225.01.00.16"),
        "anonymised zero-padded IPs are still IPs"
    );
    assert_eq!(e.api.service.as_deref(), Some("signin.amazonaws.com"));
    assert_eq!(e.uid, "865d9377-9c6b-4fd7-8aad-725e95f6a140");
}

#[test]
fn cloudtrail_lookup_events_unwraps_the_json_string() {
    let e = one(
        "x.json",
        &corpus("aws-cli-examples/cloudtrail-lookup-events-1.json"),
    );
    assert_eq!(e.actor.user_type.as_deref(), Some("AssumedRole"));
    assert_eq!(
        e.actor.user_name.as_deref(),
        Some("my-session-name"),
        "assumed-role sessions are named by the ARN's last part"
    );
    assert_eq!(
        e.actor.session_issuer.as_deref(),
        Some("arn:aws:iam::123456789012:role/my-role")
    );
    assert!(
        e.raw.starts_with("{\"eventVersion\""),
        "raw is the CloudTrail record itself"
    );
}

#[test]
fn cloudtrail_error_is_a_failure_with_code_and_message() {
    let e = one(
        "x.json",
        &corpus("aws-docs-examples/cloudtrail/06-error-code-and-message-log-example.json"),
    );
    assert_eq!(e.status_id, status::FAILURE);
    assert!(e.status_code.is_some() && e.status_detail.is_some());
    assert_eq!(e.api.operation.as_deref(), Some("UpdateTrail"));
    assert_eq!(e.activity_id, activity::UPDATE);
}

#[test]
fn k8s_exec_into_pod() {
    let e = one("x.json", &corpus("falco-k8s-audit/events/exec_pod.json"));
    assert_eq!(
        (e.source, e.class_uid, e.activity_id),
        (SourceKind::K8sAudit, class::API_ACTIVITY, activity::CREATE)
    );
    assert_eq!(e.resources[0].kind.as_deref(), Some("pods/exec"));
    assert_eq!(e.resources[0].namespace.as_deref(), Some("default"));
    assert_eq!(e.http.status, Some(101));
    assert_eq!(e.src.ip.as_deref(), Some("192.168.99.1"));
    assert!(
        e.uid.ends_with(":ResponseStarted"),
        "one request logs one event per stage"
    );
}

#[test]
fn gcp_policy_denied_is_a_failure() {
    let e = one("x.json", &corpus("gcp-community-security-analytics/fixtures/google.storage.objects.get-notInSameVPC.json"));
    assert_eq!(e.source, SourceKind::GcpAudit);
    assert_eq!(e.status_id, status::FAILURE);
    assert_eq!(
        e.event_code.as_deref(),
        Some("cloudaudit.googleapis.com/policy")
    );
    // VPC Service Controls denials carry no principal (empty authenticationInfo); the caller IP remains.
    assert_eq!(e.actor.user_name, None);
    assert_eq!(e.src.ip.as_deref(), Some("203.0.113.255"));
}

#[test]
fn gcp_workspace_login_failure_is_authentication() {
    let e = one(
        "x.json",
        &corpus(
            "gcp-community-security-analytics/fixtures/google.login.LoginService.loginFailure.json",
        ),
    );
    assert_eq!(
        (e.class_uid, e.activity_id, e.status_id),
        (class::AUTHENTICATION, activity::LOGON, status::FAILURE)
    );
    assert_eq!(e.src.ip.as_deref(), Some("203.0.113.255"));
}

#[test]
fn guardduty_api_response_shape() {
    let e = one(
        "x.json",
        &corpus("aws-cli-examples/guardduty-get-findings-1.json"),
    );
    assert_eq!(
        (e.source, e.class_uid, e.severity_id),
        (SourceKind::Guardduty, class::DETECTION_FINDING, 3),
        "severity 5 is Medium"
    );
    assert_eq!(
        e.event_code.as_deref(),
        Some("Recon:IAMUser/UserPermissions")
    );
    assert_eq!(e.actor.user_name.as_deref(), Some("testuser"));
    assert_eq!(e.src.country.as_deref(), Some("United Kingdom"));
}

#[test]
fn security_hub_control_finding_is_a_compliance_finding() {
    let e = one(
        "x.json",
        &corpus("aws-docs-examples/securityhub-asff/01-sample-finding-for-fsbp.json"),
    );
    assert_eq!(
        (e.source, e.class_uid, e.severity_id),
        (SourceKind::SecurityHub, class::COMPLIANCE_FINDING, 3)
    );
    assert_eq!(
        e.finding.as_ref().and_then(|f| f.status.as_deref()),
        Some("FAILED")
    );
}

#[test]
fn vpc_flow_behind_nat_uses_packet_addresses() {
    let e = one("x.log", "version srcaddr dstaddr pkt-srcaddr pkt-dstaddr action start flow-direction interface-id\n3 10.0.0.5 10.0.1.9 203.0.113.7 10.0.1.9 ACCEPT 1600000000 ingress eni-1\n");
    assert_eq!(e.src.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(
        e.dst.uid.as_deref(),
        Some("eni-1"),
        "ingress: the interface is the destination"
    );
    assert_eq!(e.network.direction.as_deref(), Some("inbound"));
    assert_eq!(e.activity_id, activity::TRAFFIC);
}

#[test]
fn alb_line_with_quoted_fields() {
    let line = corpus("aws-docs-examples/alb-access-logs/examples.log");
    let e = one("x.log", line.lines().next().unwrap_or_default());
    assert_eq!(
        (e.source, e.class_uid),
        (SourceKind::Alb, class::HTTP_ACTIVITY)
    );
    assert_eq!(e.src.ip.as_deref(), Some("192.168.131.39"));
    assert_eq!(e.src.port, Some(2817));
    assert_eq!(e.http.method.as_deref(), Some("GET"));
    assert_eq!(e.src.user_agent.as_deref(), Some("curl/7.46.0"));
    assert_eq!(e.cloud.account_uid.as_deref(), Some("123456789012"));
}

#[test]
fn entra_sentinel_signin_with_stringified_columns() {
    let rec = r#"{"TimeGenerated":"2026-11-20T09:40:01Z","Type":"SigninLogs","UserPrincipalName":"alice@acme.example","UserId":"u1","AppDisplayName":"Azure Portal","IPAddress":"203.0.113.66","ResultType":"50126","ResultDescription":"Invalid username or password","LocationDetails":"{\"city\":\"Amsterdam\",\"countryOrRegion\":\"NL\"}","AuthenticationRequirement":"singleFactorAuthentication","Id":"s1","TenantId":"t1"}"#;
    let e = one("x.json", rec);
    assert_eq!(
        (e.source, e.status_id),
        (SourceKind::EntraSignin, status::FAILURE)
    );
    assert_eq!(e.status_code.as_deref(), Some("50126"));
    assert_eq!(
        e.status_detail.as_deref(),
        Some("Invalid username or password")
    );
    assert_eq!(e.src.country.as_deref(), Some("NL"));
    assert_eq!(e.actor.is_mfa, Some(false));
    assert_eq!(e.uid, "s1");
}

#[test]
fn entra_audit_from_sentinel_export() {
    let text = corpus("otrf-security-datasets/azure-golden-saml/AADAuditEvents.json");
    let e = one("x.json", text.lines().next().unwrap_or_default());
    assert_eq!(
        (e.source, e.class_uid),
        (SourceKind::EntraAudit, class::ENTITY_MANAGEMENT)
    );
    assert_eq!(
        e.actor.user_name.as_deref(),
        Some("pgustavo@simulandlabs.com")
    );
    assert_eq!(e.resources[0].name.as_deref(), Some("SimuLandApp"));
}

#[test]
fn syslog_without_year_is_placed_and_flagged() {
    let e = one(
        "auth.log",
        "Dec 31 23:59:59 host sshd[1]: Failed password for root from 198.51.100.1 port 22 ssh2",
    );
    assert_eq!(e.time.to_string(), "2025-12-31T23:59:59Z");
    assert_eq!(e.time_flags, [TimeFlag::YearInferred]);
    assert_eq!(
        (e.class_uid, e.status_id),
        (class::AUTHENTICATION, status::FAILURE)
    );
    assert_eq!(e.actor.user_name.as_deref(), Some("root"));
}
