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
    #[tokio::test]
    async fn the_report_is_self_contained_and_carries_the_data() {
        let s = crate::output::sample_summary().await;
        let html = super::render(&crate::report::View::of(&s, None), "stress report").unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external fetch"
        );
        assert!(!html.contains("<script src"), "scripts are inline");
        let start = html
            .find("<script id=\"data\" type=\"application/json\">")
            .unwrap();
        let json = &html[start..];
        let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
        let data: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(data["all"]["count"], 60);
        assert_eq!(data["live"], false);
        assert_eq!(data["history"].as_array().unwrap().len(), 3);
        assert_eq!(data["classes"][0]["tasks"][0]["calls"], 30);
    }
}
