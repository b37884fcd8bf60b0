//! The code's own shape, checked: the top-level modules of `src/` form no import cycle (so the
//! folder tree reads top-down as the architecture diagram), only the HTTP side imports `web`,
//! and errors are typed (few `Result<_, String>` left, each a wire or parse message).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each source file's top-level module (`src/flows/create.rs` → `flows`) and its code: unit
/// tests and comment lines left out.
fn modules() -> Vec<(String, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("below src")
                .to_string_lossy()
                .to_string();
            let top = rel
                .split('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&path).expect("readable source");
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (top, path, code)
        })
        .collect()
}

/// The modules a piece of code names as `crate::<module>`.
fn named(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(at, m)| {
            code[at + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (top, _, code) in modules() {
        if top == "main" || top == "lib" {
            continue;
        }
        let uses = graph.entry(top.clone()).or_default();
        uses.extend(named(&code).into_iter().filter(|m| *m != top));
    }
    // Depth-first search for a back edge, reporting the cycle it closes.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "an import cycle: {}",
            cycle.unwrap_or_default().join(" → ")
        );
    }
    assert!(graph.len() > 15, "the walk found the modules: {:?}", graph.keys());
}

#[test]
fn only_the_http_side_imports_web() {
    let outside: Vec<_> = modules()
        .into_iter()
        .filter(|(top, _, code)| !matches!(top.as_str(), "web" | "app" | "main") && named(code).contains("web"))
        .map(|(_, path, _)| path)
        .collect();
    assert!(outside.is_empty(), "crate::web imported by {outside:?}");
}

/// The error types of the `Result<T, E>`s a line names.
fn error_types(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("Result<") {
        let (mut depth, mut comma) = (1, None);
        for (i, c) in line[at + 7..].char_indices() {
            match c {
                '<' | '(' => depth += 1,
                '>' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        if let Some(comma) = comma {
                            found.push(line[at + 7 + comma + 1..at + 7 + i].trim().to_string());
                        }
                        break;
                    }
                }
                ',' if depth == 1 => comma = Some(i),
                _ => {}
            }
        }
    }
    found
}

#[test]
fn errors_are_typed() {
    assert_eq!(
        error_types("fn f() -> Result<BTreeMap<String, String>, DbError> {"),
        ["DbError"]
    );
    assert_eq!(
        error_types("Result<Result<Value, String>, FlowError>"),
        ["FlowError", "String"]
    );
    let text_errors: Vec<String> = modules()
        .into_iter()
        .flat_map(|(_, path, code)| {
            code.lines()
                .filter(|l| error_types(l).iter().any(|e| e == "String"))
                .map(|l| format!("{}: {}", path.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        text_errors.len() < 20,
        "{} Result<_, String> left:\n{}",
        text_errors.len(),
        text_errors.join("\n")
    );
}
