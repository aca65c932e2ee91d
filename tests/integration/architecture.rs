//! The architecture test: reads the table of forbidden imports in `ARCHITECTURE.md` and fails with
//! the file and line of every `crate::…` reference (in `src/`) or `msgaudit` dependency (in `ffi/`)
//! that crosses a layer the wrong way. The checker itself is tested on a deliberate break.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// For each module, the modules it must never name.
type Rules = BTreeMap<String, Vec<String>>;

/// One forbidden reference.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} must never import {}",
            self.file, self.line, self.from, self.to
        )
    }
}

/// The table's rows: `| module | a, b, c |` after the header.
fn parse_rules(markdown: &str) -> Rules {
    let mut rules = Rules::new();
    // Only the table headed `| module | must never import |`, up to its end: other tables of the
    // page are not rules.
    let table = markdown
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("| module |"))
        .take_while(|line| line.trim_start().starts_with('|'));
    for line in table {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        if cells.len() != 2 {
            continue;
        }
        let (module, banned) = (cells[0].trim(), cells[1].trim());
        if module == "module" || module.starts_with('-') {
            continue;
        }
        rules.insert(
            module.to_owned(),
            banned.split(',').map(|s| s.trim().to_owned()).collect(),
        );
    }
    rules
}

/// The node a module path belongs to: a finer node the table names (`alert/outbox`), else its first
/// component (`audit/matcher` → `audit`).
fn node_of(path: &[&str], rules: &Rules) -> String {
    if path.len() >= 2 {
        let finer = format!("{}/{}", path[0], path[1]);
        if rules.contains_key(&finer) {
            return finer;
        }
    }
    path.first().copied().unwrap_or_default().to_owned()
}

/// The node of a file under `src/` (`audit/matcher.rs` → `audit`, `alert/outbox.rs` →
/// `alert/outbox` when the table names it).
fn module_of(relative: &Path, rules: &Rules) -> Option<String> {
    let path = module_path(relative);
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    (!parts.is_empty()).then(|| node_of(&parts, rules))
}

/// Code without its line comment (doc comments and examples name other layers freely).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The module path of a file under `src/` (`store/sqlite/mod.rs` → `store::sqlite`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .map(|s| s.trim_end_matches(".rs").to_owned())
        .collect();
    if path.last().is_some_and(|l| l == "mod") {
        path.pop();
    }
    path
}

/// The module path in force on each line: the file's, plus any inline `mod name {` blocks (tests,
/// mostly) the line sits in, which `super::` counts from.
fn line_modules(lines: &[&str], module: &[String]) -> Vec<Vec<String>> {
    let mut inline: Vec<(String, i32)> = Vec::new();
    let mut depth = 0i32;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let code = code_of(line);
        let opened = code
            .trim_start()
            .trim_start_matches("pub ")
            .strip_prefix("mod ");
        if let Some(name) = opened.and_then(|rest| rest.trim_end().strip_suffix('{')) {
            inline.push((name.trim().to_owned(), depth));
        }
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        while inline.last().is_some_and(|(_, at)| depth <= *at) {
            inline.pop();
        }
        out.push(
            module
                .iter()
                .cloned()
                .chain(inline.iter().map(|(name, _)| name.clone()))
                .collect(),
        );
    }
    out
}

/// The index just past the `}` that closes the `{` at `open`.
fn closing_brace(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (k, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// The paths a path or `use` tree starting at byte `i` names, each with the byte it starts at:
/// `a::b` → `prefix::a::b`; `{a::x, b::{y, z}}` → each item; `super` steps out, `self` stays.
fn paths(code: &str, i: usize, prefix: Vec<String>) -> Vec<(usize, Vec<String>)> {
    let bytes = code.as_bytes();
    let mut path = prefix;
    let mut j = i;
    loop {
        if bytes.get(j) == Some(&b'{') {
            let end = closing_brace(code, j) - 1;
            let mut out = Vec::new();
            let (mut item, mut depth) = (j + 1, 0);
            for k in j + 1..=end {
                match bytes[k] {
                    b'{' => depth += 1,
                    b'}' if depth > 0 => depth -= 1,
                    b',' | b'}' if depth == 0 => {
                        let from = item + code[item..k].len() - code[item..k].trim_start().len();
                        if from < k {
                            out.extend(paths(code, from, path.clone()));
                        }
                        item = k + 1;
                    }
                    _ => {}
                }
            }
            return out;
        }
        let start = j;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        match &code[start..j] {
            "" | "self" => {}
            "super" => {
                path.pop();
            }
            ident => path.push(ident.to_owned()),
        }
        if !code[j..].starts_with("::") {
            return vec![(i, path)];
        }
        j += 2;
    }
}

/// Every module path a source names — `crate::…`, or `super::…` resolved against the module in
/// force, grouped `use` trees (over several lines too) item by item — as the node it belongs to,
/// with its line.
fn crate_references(source: &str, module: &[String], rules: &Rules) -> Vec<(usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let modules = line_modules(&lines, module);
    // Comments blanked out, so that offsets still fall on the same lines.
    let code: String = lines
        .iter()
        .map(|l| format!("{}{}", code_of(l), " ".repeat(l.len() - code_of(l).len())))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |offset: usize| code[..offset].matches('\n').count();
    let mut out = Vec::new();
    for (marker, relative) in [("crate::", false), ("super::", true)] {
        for (at, _) in code.match_indices(marker) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base = if relative {
                // `super::` counts from the parent of the module in force.
                let mut parent = modules[line_of(at)].clone();
                parent.pop();
                parent
            } else {
                Vec::new()
            };
            for (offset, path) in paths(&code, at + marker.len(), base) {
                let segments: Vec<&str> = path.iter().map(String::as_str).collect();
                if !segments.is_empty() {
                    out.push((line_of(offset) + 1, node_of(&segments, rules)));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Checks one source file (`src/…`) of node `from` against the rules.
fn check_source(rules: &Rules, file: &str, from: &str, source: &str) -> Vec<Violation> {
    let Some(banned) = rules.get(from) else {
        return Vec::new();
    };
    let module = module_path(Path::new(file.strip_prefix("src/").unwrap_or(file)));
    crate_references(source, &module, rules)
        .into_iter()
        .filter(|(_, to)| to != from && banned.contains(to))
        .map(|(line, to)| Violation {
            file: file.to_owned(),
            line,
            from: from.to_owned(),
            to,
        })
        .collect()
}

/// Checks a workspace crate that must not depend on msgaudit: its manifest and its sources.
fn check_crate(root: &Path, krate: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let dir = root.join(krate);
    let mut files = vec![dir.join("Cargo.toml")];
    files.extend(rust_files(&dir.join("src")));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let code = code_of(line);
            if code.contains("msgaudit") {
                out.push(Violation {
                    file: file
                        .strip_prefix(root)
                        .unwrap_or(&file)
                        .display()
                        .to_string(),
                    line: i + 1,
                    from: krate.to_owned(),
                    to: "msgaudit".to_owned(),
                });
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every violation in the repository at `root`.
fn check_repository(root: &Path, rules: &Rules) -> Vec<Violation> {
    let src = root.join("src");
    let mut out = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(from) = module_of(relative, rules) else {
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("read source");
        let name = format!("src/{}", relative.display());
        out.extend(check_source(rules, &name, &from, &source));
    }
    for krate in rules.keys().filter(|k| k.starts_with("ffi/")) {
        out.extend(check_crate(root, krate));
    }
    out
}

#[test]
fn no_module_imports_across_a_forbidden_arrow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let rules = parse_rules(&table);
    for (module, must_not) in [
        ("audit", ["store", "pipeline", "sdk", "web"].as_slice()),
        ("message", &["sdk", "store"]),
        ("store", &["pipeline"]),
        ("sdk", &["store"]),
        ("web", &["pipeline", "sdk"]),
        ("ffi/emulator", &["msgaudit"]),
        ("ffi/archive", &["msgaudit"]),
    ] {
        let banned = rules
            .get(module)
            .unwrap_or_else(|| panic!("no row for {module}"));
        for m in must_not {
            assert!(
                banned.iter().any(|b| b == m),
                "{module} → {m} is not forbidden"
            );
        }
    }
    let violations = check_repository(root, &rules);
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        violations.is_empty(),
        "imports across a forbidden arrow (see ARCHITECTURE.md):\n  {}",
        list.join("\n  ")
    );
}

#[test]
fn the_checker_reports_a_deliberate_break_with_file_and_line() {
    let rules = parse_rules(
        "| module | must never import |\n|---|---|\n| audit | store, pipeline |\n| web | sdk |\n",
    );
    let source = "//! The matcher.\n\
                  use crate::message::MessageRow;\n\
                  // crate::store in a comment is no import\n\
                  use crate::store::{HitRow, Store};\n\
                  fn f() { let _ = crate::pipeline::decode_pool(0); }\n\
                  fn g() { let _ = my_crate::store::x(); }\n";
    let found = check_source(&rules, "src/audit/matcher.rs", "audit", source);
    assert_eq!(
        found,
        vec![
            Violation {
                file: "src/audit/matcher.rs".into(),
                line: 4,
                from: "audit".into(),
                to: "store".into(),
            },
            Violation {
                file: "src/audit/matcher.rs".into(),
                line: 5,
                from: "audit".into(),
                to: "pipeline".into(),
            },
        ]
    );
    assert_eq!(
        found[0].to_string(),
        "src/audit/matcher.rs:4: audit must never import store"
    );
    // A module the table does not constrain, and an allowed arrow, pass.
    assert!(check_source(&rules, "src/cli/mod.rs", "cli", source).is_empty());
    assert!(
        check_source(
            &rules,
            "src/web/api.rs",
            "web",
            "use crate::store::Store;\n"
        )
        .is_empty()
    );
    assert_eq!(
        check_source(
            &rules,
            "src/web/mod.rs",
            "web",
            "\n\nuse crate::sdk::Session;\n"
        )[0]
        .line,
        3
    );
}

#[test]
fn a_finer_node_is_told_apart_from_its_parent() {
    let rules = parse_rules(
        "| module | must never import |\n|---|---|\n| store | alert |\n| alert/outbox | store, alert |\n",
    );
    let store_file = "use crate::alert::outbox::{AlertPost, Robot};\nuse crate::alert::Sender;\n";
    let found = check_source(&rules, "src/store/sqlite/outbox.rs", "store", store_file);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "src/store/sqlite/outbox.rs:2: store must never import alert"
    );
    let outbox = module_of(Path::new("alert/outbox.rs"), &rules).expect("node");
    assert_eq!(outbox, "alert/outbox");
    assert_eq!(
        module_of(Path::new("alert/sender.rs"), &rules).as_deref(),
        Some("alert")
    );
    let found = check_source(
        &rules,
        "src/alert/outbox.rs",
        &outbox,
        "use crate::store::HitRow;\nuse crate::audit::HitRow;\nuse super::sender::x;\n",
    );
    let lines: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.to.as_str())).collect();
    assert_eq!(lines, [(1, "store"), (3, "alert")], "{found:?}");
    // `super` inside an inline test module is the file's own module, not its parent.
    let tests = "pub struct Robot;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\nuse super::sender::x;\n";
    let found = check_source(&rules, "src/alert/outbox.rs", &outbox, tests);
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, [6], "{found:?}");
}

#[test]
fn grouped_and_multi_line_imports_are_read_item_by_item() {
    let rules = parse_rules(
        "| module | must never import |\n|---|---|\n| audit | store, pipeline, sdk |\n",
    );
    let source = "use crate::{message::MessageRow, store::Store};\n\
                  use crate::{\n    message::{self, ChatMessage},\n    pipeline::{decode_pool, Parts},\n};\n\
                  use super::super::sdk::Session;\n";
    let found = check_source(&rules, "src/audit/matcher.rs", "audit", source);
    let lines: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.to.as_str())).collect();
    assert_eq!(
        lines,
        [(1, "store"), (4, "pipeline"), (6, "sdk")],
        "{found:?}"
    );
}

#[test]
fn a_workspace_crate_that_depends_on_the_daemon_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let krate = dir.path().join("ffi/emulator");
    std::fs::create_dir_all(krate.join("src")).expect("mkdir");
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"e\"\n\n[dependencies]\nmsgaudit = { path = \"../..\" }\n",
    )
    .expect("write");
    std::fs::write(
        krate.join("src/lib.rs"),
        "//! msgaudit's emulator\npub fn f() {}\n",
    )
    .expect("write");
    let found = check_crate(dir.path(), "ffi/emulator");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "ffi/emulator/Cargo.toml:5: ffi/emulator must never import msgaudit"
    );
}
