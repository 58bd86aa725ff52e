//! The layering rule, checked: every module imports only modules of lower
//! layers (siblings of one layer not each other), in the library and in the
//! CLI. The layers are the README's ARCHITECTURE section.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library's layers, bottom first; modules on one line are siblings.
const LIBRARY: &[&[&str]] = &[
    &["core"],
    &["data"],
    &["backends"],
    &["ops"],
    &["nn"],
    &["models"],
    &["train", "score"],
    &["profile"],
    &["export"],
    &["app"],
    &["web"],
];

/// The CLI's modules, bottom first.
const CLI: &[&[&str]] = &[
    &["args"],
    &["common"],
    &["bench", "score", "profile"],
    &["classifier", "export"],
    &["train"],
    &["main"],
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/ops/dense.rs` → `ops`).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file names as `crate::x` outside comments.
fn imports(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        // `use super::x` from a top-level file would escape the module: not used.
    }
    out
}

fn check(root: &Path, layers: &[&[&str]], skip: &[&str]) -> Vec<String> {
    let layer = |m: &str| layers.iter().position(|l| l.contains(&m));
    let mut all = Vec::new();
    files(root, &mut all);
    let mut problems = Vec::new();
    for file in all {
        let module = module_of(root, &file);
        if skip.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer(&module) else {
            problems.push(format!(
                "{}: module {module} is in no layer",
                file.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(&file).unwrap();
        for used in imports(&source) {
            if used == module {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                Some(_) => problems.push(format!(
                    "{}: {module} imports {used}, which is not below it",
                    file.display()
                )),
                None => {} // an external crate's path or a macro
            }
        }
    }
    problems
}

#[test]
fn every_import_points_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = check(&root.join("src"), LIBRARY, &["lib"]);
    problems.extend(check(&root.join("cli/src"), CLI, &[]));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check finds an upward import and a sibling import (so a clean run means something).
#[test]
fn the_check_catches_upward_and_sibling_imports() {
    assert_eq!(
        imports("use crate::ops::Matmul; // crate::nn in a comment\nlet x = crate::core::WG;"),
        ["core", "ops"].map(String::from).into_iter().collect()
    );
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("architecture-selftest");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("core")).unwrap();
    std::fs::write(root.join("core/x.rs"), "use crate::web::Playground;\n").unwrap();
    std::fs::write(root.join("train.rs"), "use crate::score::Classifier;\n").unwrap();
    std::fs::write(root.join("score.rs"), "use crate::core::Grad;\n").unwrap();
    let problems = check(&root, LIBRARY, &[]);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("core imports web") || problems[1].contains("core imports web"));
    assert!(problems.iter().any(|p| p.contains("train imports score")));
}

/// The README reads the registry too: every model's name and every
/// setting's flag appear in it (so a new one cannot go undocumented).
#[test]
fn the_readme_names_every_model_and_setting() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for m in genlab::models::MODELS {
        assert!(
            readme.contains(&format!("`{}`", m.name)),
            "README.md does not name the model {}",
            m.name
        );
    }
    for s in genlab::models::SETTINGS {
        let flag = format!("--{}", s.key.replace('_', "-"));
        assert!(readme.contains(&flag), "README.md does not name {flag}");
    }
}

/// The names a script imports from the wasm module's glue (`../genlab.js`).
fn module_imports(script: &str) -> Option<BTreeSet<String>> {
    let line = script
        .lines()
        .find(|l| l.starts_with("import ") && l.contains("'../genlab.js'"))?;
    let names = line.split('{').nth(1)?.split('}').next()?;
    Some(names.split(',').map(|n| n.trim().to_string()).collect())
}

/// The page's main thread keeps the DOM; the panes' workers train. The
/// page's scripts import from the module only what describes (the schema,
/// the page options, the run-state machine); www/worker.js is the one
/// script that builds a `Playground`, and the page starts it per pane.
#[test]
fn only_the_workers_train() {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let read = |f: &str| std::fs::read_to_string(www.join(f)).unwrap();
    let describes: BTreeSet<String> = ["schema", "page", "next_state"].map(String::from).into();
    assert_eq!(module_imports(&read("playground.js")), Some(describes));
    for f in ["main.js", "tutorial.js"] {
        assert_eq!(
            module_imports(&read(f)),
            None,
            "{f} goes through playground.js"
        );
    }
    let worker = module_imports(&read("worker.js")).unwrap();
    assert!(worker.contains("Playground"), "{worker:?}");
    assert!(read("playground.js")
        .contains("new Worker(new URL('worker.js', import.meta.url), { type: 'module'"));
    assert!(!read("playground.js").contains("Playground."));
}
