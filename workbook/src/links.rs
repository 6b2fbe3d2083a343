//! Checks the links of the built book: every relative link in every page
//! must lead to a file of the book, and every `#anchor` to an element with
//! that id. Web links (`https://...`) are not followed: the machines that
//! check the book cannot reach the web.
//!
//! It reads the HTML mdBook wrote, not the Markdown, so it sees what a reader
//! clicks: a link to `../exercise.md` that mdBook turned into `exercise.html`,
//! an included file's link, a heading's id as mdBook spelled it.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// One broken link: the page it is on, the link as written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub page: PathBuf,
    pub link: String,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: link {:?} {}",
            self.page.display(),
            self.link,
            self.reason
        )
    }
}

/// Every broken link under `html` (the folder holding the built pages),
/// pages in name order. Empty when every link leads somewhere.
pub fn check(html: &Path) -> std::io::Result<Vec<Broken>> {
    let mut pages = Vec::new();
    collect_pages(html, html, &mut pages)?;
    pages.sort();
    let mut ids: HashMap<PathBuf, HashSet<String>> = HashMap::new();
    let mut texts = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(html.join(page))?;
        ids.insert(page.clone(), attributes(&text, "id").into_iter().collect());
        texts.push(text);
    }

    let mut broken = Vec::new();
    for (page, text) in pages.iter().zip(&texts) {
        // mdBook's 404 page resolves its links against `<base href>`, the
        // site's address, which only the web server knows.
        if page.as_os_str() == "404.html" {
            continue;
        }
        for attribute in ["href", "src"] {
            for link in attributes(text, attribute) {
                if let Some(reason) = follow(html, page, &link, &ids) {
                    broken.push(Broken {
                        page: page.clone(),
                        link,
                        reason,
                    });
                }
            }
        }
    }
    Ok(broken)
}

/// Why `link` on `page` leads nowhere, or `None` when it leads somewhere.
fn follow(
    html: &Path,
    page: &Path,
    link: &str,
    ids: &HashMap<PathBuf, HashSet<String>>,
) -> Option<String> {
    let lower = link.to_ascii_lowercase();
    if link.is_empty()
        || link.starts_with("//")
        || ["http:", "https:", "mailto:", "javascript:", "data:", "tel:"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
    {
        return None;
    }
    let (path, fragment) = match link.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (link, None),
    };
    let path = path.split('?').next().unwrap_or_default();
    let target = if path.is_empty() {
        page.to_path_buf()
    } else {
        let joined = page
            .parent()
            .unwrap_or(Path::new(""))
            .join(percent_decode(path));
        match normalise(&joined) {
            Some(target) => target,
            None => return Some("leads out of the book".to_string()),
        }
    };
    let target = if html.join(&target).is_dir() {
        target.join("index.html")
    } else {
        target
    };
    if !html.join(&target).is_file() {
        return Some(format!(
            "leads to {}, which is not in the book",
            target.display()
        ));
    }
    match (fragment, ids.get(&target)) {
        (Some(fragment), Some(known)) if !fragment.is_empty() => {
            let fragment = percent_decode(fragment);
            (!known.contains(&fragment)).then(|| {
                format!(
                    "names #{fragment}, which {} does not have",
                    target.display()
                )
            })
        }
        _ => None,
    }
}

/// `a/b/../c` as `a/c`; `None` when it climbs above the book's folder.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

fn collect_pages(root: &Path, dir: &Path, pages: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_pages(root, &path, pages)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            pages.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The values of every ` name="..."` attribute in `text`, entities decoded.
///
/// mdBook escapes `<` inside code, so an `href="` that a listing shows is
/// written `&lt;a href=&quot;...` and is not taken for a link.
fn attributes(text: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = text;
    let pattern = format!("{name}=");
    while let Some(at) = rest.find(&pattern) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + pattern.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        rest = &rest[1..];
        let Some(end) = rest.find(quote) else { break };
        values.push(decode_entities(&rest[..end]));
        rest = &rest[end + 1..];
    }
    values
}

fn decode_entities(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(pages: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in pages {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        dir
    }

    #[test]
    fn links_that_lead_somewhere_pass() {
        let dir = book(&[
            (
                "index.html",
                r#"<a href="ch01/intro.html#why">x</a> <a href='https://example.org/x'>w</a> <img src="img/a%20b.png">"#,
            ),
            (
                "ch01/intro.html",
                r##"<h2 id="why">Why</h2><a href="../index.html">up</a><a href="#why">self</a><a href="../ch01/">dir</a>"##,
            ),
            ("ch01/index.html", ""),
            ("img/a b.png", ""),
        ]);
        assert_eq!(check(dir.path()).unwrap(), Vec::new());
    }

    #[test]
    fn a_missing_page_a_missing_anchor_and_a_way_out_are_each_reported() {
        let dir = book(&[
            (
                "index.html",
                r##"<a href="gone.html">a</a> <a class="x" href="ch01.html#nope">b</a> <a href="../../etc/passwd">c</a> <a href="#here">d</a><p id="here">"##,
            ),
            ("ch01.html", r#"<h1 id="yes">"#),
        ]);
        let broken = check(dir.path()).unwrap();
        let links: Vec<&str> = broken.iter().map(|b| b.link.as_str()).collect();
        assert_eq!(
            links,
            ["gone.html", "ch01.html#nope", "../../etc/passwd"],
            "{broken:#?}"
        );
        assert!(broken[1].reason.contains("#nope"), "{}", broken[1]);
    }

    #[test]
    fn a_link_shown_inside_a_listing_is_not_followed() {
        let dir = book(&[(
            "index.html",
            r#"<code>&lt;a href=&quot;nowhere.html&quot;&gt;</code> data-href="x.html""#,
        )]);
        assert_eq!(check(dir.path()).unwrap(), Vec::new());
    }
}
