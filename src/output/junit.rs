//! `--junit FILE`: JUnit XML for CI test reports: a test case per threshold (with none, one for
//! "no failed requests or script errors", the run's own rule) and, with a comparison, per
//! relative rule and per row; a failed one holds a `<failure>`, as the exit code would say.
//! Checks are not cases: they do not decide a run's exit code either.

use std::fmt::Write;

use crate::report::compare::Change;
use crate::report::{Comparison, Summary};

/// Text made safe for XML, in an attribute or between tags (the only place XML is escaped).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One test case.
struct Case {
    name: String,
    passed: bool,
    message: String,
}

/// A suite of cases.
struct Suite {
    name: &'static str,
    cases: Vec<Case>,
}

fn render(suites: &[Suite]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.cases.iter().filter(|c| !c.passed).count())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"stress\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for suite in suites {
        let failed = suite.cases.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">",
            suite.name,
            suite.cases.len()
        );
        for c in &suite.cases {
            let (name, message) = (escape(&c.name), escape(&c.message));
            let class = format!("stress.{}", suite.name);
            if c.passed {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"{name}\">\
                     <system-out>{message}</system-out></testcase>"
                );
            } else {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"{name}\">\
                     <failure message=\"{message}\">{message}</failure></testcase>"
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn comparison_suites(c: &Comparison) -> Vec<Suite> {
    let rules = c
        .rules
        .iter()
        .map(|v| Case {
            name: v.threshold.clone(),
            passed: v.passed,
            message: v.observed.clone(),
        })
        .collect();
    // As the exit code decides: with relative rules, the rules judge and a slower row is
    // information; without them, a slower row fails.
    let rows = c
        .rows
        .iter()
        .map(|r| Case {
            name: r.name.clone(),
            passed: !c.rules.is_empty() || r.change != Change::Slower,
            message: format!("{} ({})", r.change, r.why),
        })
        .collect();
    vec![
        Suite {
            name: "relative_thresholds",
            cases: rules,
        },
        Suite {
            name: "comparison",
            cases: rows,
        },
    ]
}

/// A result's thresholds (or, with none, whether any request failed or script erred), and
/// its comparison with a baseline when there is one.
pub fn summary(s: &Summary) -> String {
    let mut thresholds: Vec<Case> = s
        .thresholds
        .iter()
        .map(|v| Case {
            name: v.threshold.clone(),
            passed: v.passed,
            message: v.observed.clone(),
        })
        .collect();
    if thresholds.is_empty() {
        let t = &s.totals;
        thresholds.push(Case {
            name: "no failed requests or script errors".into(),
            passed: t.failures == 0 && t.script_errors == 0,
            message: format!(
                "{} of {} requests failed, {} script errors",
                t.failures, t.requests, t.script_errors
            ),
        });
    }
    let mut suites = vec![Suite {
        name: "thresholds",
        cases: thresholds,
    }];
    if let Some(c) = &s.comparison {
        suites.extend(comparison_suites(c));
    }
    render(&suites)
}

/// A comparison's relative rules and rows.
pub fn comparison(c: &Comparison) -> String {
    render(&comparison_suites(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_are_escaped() {
        assert_eq!(
            escape("p95<500ms & \"x\" 'y' >\u{1}"),
            "p95&lt;500ms &amp; &quot;x&quot; &apos;y&apos; &gt; "
        );
        let xml = render(&[Suite {
            name: "thresholds",
            cases: vec![
                Case {
                    name: "p95<500ms".into(),
                    passed: false,
                    message: "612.0 ms".into(),
                },
                Case {
                    name: "errors<1%".into(),
                    passed: true,
                    message: "0.00%".into(),
                },
            ],
        }]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"p95&lt;500ms\"><failure message=\"612.0 ms\">"),
            "{xml}"
        );
    }
}
