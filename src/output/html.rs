//! The page: the live dashboard and the self-contained HTML report are one template
//! (`page.html`, embedded in the binary) rendered with minijinja. The data goes in as JSON
//! (escaped for a script tag by `tojson`); the page's own script draws the charts on canvases
//! and fills the tables, so a report needs nothing from the network.

use minijinja::{Environment, context};
use serde::Serialize;

use crate::report::View;

const PAGE: &str = include_str!("page.html");

/// Renders the report for a view: the page with its data, needing no server.
pub fn render(view: &View, title: &str) -> anyhow::Result<String> {
    render_live(view, title, &())
}

/// Renders the page as a server serves it: `server` tells the page's script what the server
/// offers (serialized; `()` for a report, which the page takes as "no server").
pub fn render_live(view: &View, title: &str, server: &impl Serialize) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.add_template("page.html", PAGE)?;
    Ok(env
        .get_template("page.html")?
        .render(context! { view => view, title => title, server => server })?)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::profile::chaos::FloodMode;
    use crate::report::{FloodReport, GateSpan, Resilience, View, WindowOutcome};

    /// The data the page embeds.
    fn data(html: &str) -> Value {
        let start = html
            .find("<script id=\"data\" type=\"application/json\">")
            .unwrap();
        let json = &html[start..];
        let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
        serde_json::from_str(json).unwrap()
    }

    #[tokio::test]
    async fn the_report_is_self_contained_and_carries_the_data() {
        let s = crate::output::sample_summary().await;
        let html = super::render(&View::of(&s, None), "stress report").unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external fetch"
        );
        assert!(!html.contains("<script src"), "scripts are inline");
        let data = data(&html);
        assert_eq!(data["all"]["count"], 60);
        assert_eq!(data["live"], false);
        assert_eq!(data["history"].as_array().unwrap().len(), 3);
        assert_eq!(data["classes"][0]["tasks"][0]["calls"], 30);
        assert!(data["resilience"].is_null() && data["flood"].is_null());
    }

    #[tokio::test]
    async fn a_chaos_report_carries_its_windows_and_flood_line() {
        let mut s = crate::output::sample_summary().await;
        s.resilience = Some(Resilience {
            windows: vec![WindowOutcome {
                name: "webhook cut".into(),
                start_s: 1.0,
                end_s: 2.5,
                faults: vec!["webhook cut".into()],
                requests: 40,
                failures: 6,
                replies_lost: 5,
                redeliveries: 12,
                before_p95_ms: Some(49.0),
                worst_p95_ms: Some(3064.0),
                recovery_s: None,
                ..WindowOutcome::default()
            }],
            redeliveries: 12,
            ..Resilience::default()
        });
        let gate = GateSpan {
            messages: 50,
            refused_chat: 3,
            violations: 1,
            injected: [("5xx".to_string(), 8)].into(),
            ..GateSpan::default()
        };
        s.botapi.get_or_insert_with(Default::default).flood = Some(FloodReport {
            mode: FloodMode::Enforce,
            total: gate.clone(),
            chats_refused: 1,
            peak_messages_per_s: 20,
            peak_chat_messages_per_s: 2,
            max_retry_after_s: 3,
            spans: vec![GateSpan::default(), gate],
            ..FloodReport::default()
        });
        let html = super::render(&View::of(&s, None), "stress report").unwrap();
        assert!(html.contains(r#"data-tab="resilience""#));
        let data = data(&html);
        insta::assert_snapshot!(
            serde_json::to_string_pretty(
                &json!({ "resilience": data["resilience"], "flood": data["flood"] })
            )
            .unwrap()
        );
    }
}
