//! Every SigmaHQ rule of the shared corpus loads.

use std::path::PathBuf;

use mamori_sigma::{rule_files, LoadOptions, RuleSet};

fn corpus(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/sigma-rules")
        .join(sub)
}

#[test]
fn every_rule_of_the_main_folders_loads() {
    let dirs = [
        corpus("rules"),
        corpus("rules-threat-hunting"),
        corpus("rules-emerging-threats"),
    ];
    let files = rule_files(&dirs).len();
    let set = RuleSet::load(&dirs, &LoadOptions::default());
    for e in &set.report.errors {
        eprintln!("error: {e}");
    }
    for e in &set.report.needs_values {
        eprintln!("needs: {e}");
    }
    assert!(set.report.errors.is_empty());
    assert!(set.report.needs_values.is_empty());
    assert_eq!(
        files, 321,
        "README: 339 rules, 9 in rules-placeholder, 9 in unsupported"
    );
    assert_eq!(set.report.detections, 321);
    for w in &set.report.warnings {
        eprintln!("warning: {w}");
    }
}

#[test]
fn placeholder_rules_need_values_until_given_them() {
    let dir = [corpus("rules-placeholder")];
    let set = RuleSet::load(&dir, &LoadOptions::default());
    assert!(set.report.errors.is_empty(), "{:?}", set.report.errors);
    assert_eq!(set.report.needs_values.len(), 9);
    assert!(set.report.needs_values[0].reason.contains("placeholder %"));
    let names = [
        "ApprovedUserUpn",
        "Approved_Inviters",
        "HomeTenantID",
        "Important_AppIds",
        "KNOWN_LOCATION",
        "Known_Location",
        "Legitimate_Countries",
        "Legitimate_IP_Ranges",
        "UnApprovedDevice",
        "UnApprovedIp",
        "UnLegitCountries",
        "legtimate_identifiers",
    ];
    let opts = LoadOptions {
        placeholders: names
            .iter()
            .map(|n| (n.to_string(), vec!["x".to_string(), "y*".to_string()]))
            .collect(),
        ..LoadOptions::default()
    };
    let set = RuleSet::load(&dir, &opts);
    assert!(set.report.errors.is_empty() && set.report.needs_values.is_empty());
    assert_eq!(set.report.detections, 9);
}

#[test]
fn legacy_aggregations_load_as_correlations() {
    let set = RuleSet::load(&[corpus("unsupported")], &LoadOptions::default());
    assert!(set.report.errors.is_empty(), "{:?}", set.report.errors);
    assert_eq!(set.report.translated.len(), 9);
    assert_eq!(set.report.correlations, 9);
    // Base rules of a translation report nothing on their own.
    assert!(set.rules.iter().all(|r| !r.reports));
}
