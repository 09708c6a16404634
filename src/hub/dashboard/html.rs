//! HTML for the dashboard, written by hand: every value from a record, a note,
//! a lease or a request goes through [`esc`], and pages are put together from
//! [`Html`] pieces, which are escaped text or markup made here.

use std::fmt::Write;

/// Markup made by this module; text from elsewhere enters it only through [`esc`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    /// Markup written here (no outside value in it).
    pub fn raw(markup: impl Into<String>) -> Html {
        Html(markup.into())
    }

    /// Appends markup.
    pub fn push(&mut self, more: Html) {
        self.0.push_str(&more.0);
    }

    /// The markup.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The markup, borrowed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` as HTML text or an attribute value: `& < > " '` escaped, and
/// control characters (a terminal's escape sequences, NUL) shown as `\u{..}`.
pub fn esc(text: &str) -> Html {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Html(out)
}

/// A path segment of a link: letters, digits and `-._~` as they are, the rest
/// percent-encoded (names and addresses are checked, but a link never trusts that).
pub fn url_part(text: &str) -> Html {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    Html(out)
}

/// `<a href="HREF">TEXT</a>`, HREF made of escaped parts by the caller.
pub fn link(href: Html, text: &str) -> Html {
    Html(format!("<a href=\"{href}\">{}</a>", esc(text)))
}

/// What a page says of itself.
pub struct Page<'a> {
    /// The `<title>` and the heading.
    pub title: &'a str,
    /// Which item of the navigation is this page's.
    pub section: Section,
    /// The body under the heading.
    pub body: Html,
    /// Refresh every N seconds without JavaScript (the notes timeline).
    pub refresh_without_script: Option<u32>,
    /// Load the live-update script.
    pub live: bool,
}

/// The navigation's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The VMs.
    Vms,
    /// The projects.
    Projects,
    /// The sign-in page (no navigation).
    Login,
}

/// A whole page: the layout, the stylesheet, the navigation, the body.
pub fn page(page: Page<'_>) -> Html {
    let mut head = String::new();
    if let Some(seconds) = page.refresh_without_script {
        // Without JavaScript the page reloads itself; with it, live.js streams instead.
        let _ = write!(
            head,
            "<noscript><meta http-equiv=\"refresh\" content=\"{seconds}\"></noscript>"
        );
    }
    if page.live {
        head.push_str("<script src=\"/static/live.js\" defer></script>");
    }
    let nav = match page.section {
        Section::Login => String::new(),
        section => {
            let item = |href: &str, label: &str, this: Section| {
                let current = if section == this { " aria-current=\"page\"" } else { "" };
                format!("<a href=\"{href}\"{current}>{label}</a>")
            };
            format!(
                "<nav>{}{}<form method=\"post\" action=\"/logout\"><button>Sign out</button></form></nav>",
                item("/", "VMs", Section::Vms),
                item("/projects", "Projects", Section::Projects)
            )
        }
    };
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · sandboxer State Hub</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\">{head}</head>\
         <body><header><span class=\"brand\">sandboxer State Hub</span>{nav}</header>\
         <main><h1>{title}</h1>{body}</main></body></html>\n",
        title = esc(page.title),
        body = page.body,
    ))
}

/// A table: header cells (markup made here) and rows of cells.
pub fn table(class: &str, head: &[&str], rows: impl IntoIterator<Item = Vec<Html>>) -> Html {
    let mut out = format!("<table class=\"{}\"><thead><tr>", esc(class));
    for cell in head {
        let _ = write!(out, "<th>{}</th>", esc(cell));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    Html(out)
}

/// Links to the pages of a listing: `page` of `pages`, each link `base?page=N`.
pub fn pager(base: &str, page: usize, pages: usize) -> Html {
    if pages <= 1 {
        return Html::default();
    }
    let mut out = String::from("<p class=\"pager\">");
    if page > 1 {
        let _ = write!(out, "<a href=\"{}?page={}\">previous</a> ", esc(base), page - 1);
    }
    let _ = write!(out, "page {page} of {pages}");
    if page < pages {
        let _ = write!(out, " <a href=\"{}?page={}\">next</a>", esc(base), page + 1);
    }
    out.push_str("</p>");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_can_not_become_markup() {
        assert_eq!(
            esc("<img src=x onerror=alert(1)>").as_str(),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(esc("a\"b'c&d").as_str(), "a&quot;b&#39;c&amp;d");
        assert_eq!(esc("red\u{1b}[31m").as_str(), "red\\u{1b}[31m");
        assert_eq!(url_part("sandbox.a b/../x").as_str(), "sandbox.a%20b%2F..%2Fx");
        let cell = table("t", &["<h>"], [vec![esc("<td>")]]);
        assert!(cell.as_str().contains("<th>&lt;h&gt;</th>"));
        assert!(cell.as_str().contains("<td>&lt;td&gt;</td>"));
    }

    #[test]
    fn a_page_has_the_stylesheet_and_only_the_script_it_asks_for() {
        let quiet = page(Page {
            title: "<x>",
            section: Section::Vms,
            body: Html::raw("<p>b</p>"),
            refresh_without_script: None,
            live: false,
        });
        assert!(
            quiet
                .as_str()
                .contains("<title>&lt;x&gt; · sandboxer State Hub</title>")
        );
        assert!(quiet.as_str().contains("/static/style.css"));
        assert!(!quiet.as_str().contains("<script"));
        let live = page(Page {
            title: "t",
            section: Section::Projects,
            body: Html::default(),
            refresh_without_script: Some(5),
            live: true,
        });
        assert!(
            live.as_str()
                .contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>")
        );
        assert!(
            live.as_str()
                .contains("<script src=\"/static/live.js\" defer></script>")
        );
    }
}
