//! No two source files of a crate import each other: helpers one way, registration the other.
//! A file imports another when one of its paths (`use` declarations and paths in code, macro
//! bodies included; comments and strings excluded) names an item or module defined there;
//! `pub use` re-exports are followed to the file that defines the item, and `mod x;`
//! declarations are not imports. The checker walks each crate of [`CRATES`] from its `lib.rs` (`main.rs` for the CLI).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The crates checked: name and source folder (relative to the workspace root).
const CRATES: &[(&str, &str)] = &[
    ("maxl-engine", "engine/src"),
    ("maxl", "maxl/src"),
    ("maxl-kernels", "kernels/src"),
    ("maxl-cli", "cli/src"),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Tokens of Rust source without comments, strings and char literals (lifetimes are dropped).
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut out) = (0, Vec::new());
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied().unwrap_or('\0');
        if ch == '/' && next == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == 'r' && (next == '"' || (next == '#' && c.get(i + 2) == Some(&'"')))
            || ch == 'b' && next == 'r' && matches!(c.get(i + 2), Some('"' | '#'))
        {
            // Raw string: r"..", r#".."#, br"..".
            i += if ch == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c.get(i) == Some(&'#') {
                hashes += 1;
                i += 1;
            }
            i += 1;
            while i < c.len() {
                if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
        } else if ch == ':' && next == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

/// A module: the file it lives in and its child modules.
#[derive(Default)]
struct Module {
    file: PathBuf,
    children: BTreeMap<String, Vec<String>>,
}

/// A path as written in a module: its segments and the module it was written in.
struct RawPath {
    module: Vec<String>,
    segs: Vec<String>,
}

/// One crate's module tree, its paths by file and its re-exports by module.
#[derive(Default)]
struct Crate {
    modules: HashMap<Vec<String>, Module>,
    paths: Vec<(PathBuf, RawPath)>,
    reexports: HashMap<Vec<String>, HashMap<String, RawPath>>,
}

/// Expands a use tree starting at `toks[*i]` into full paths (with their final names).
fn use_tree(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let mut segs = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "self" && !segs.is_empty() => {
                *i += 1;
                let name = segs.last().cloned().unwrap_or_default();
                out.push((segs.clone(), name));
                return;
            }
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                let mut name = s.clone();
                if toks.get(*i) == Some(&Tok::Ident("as".into())) {
                    if let Some(Tok::Ident(alias)) = toks.get(*i + 1) {
                        name = alias.clone();
                    }
                    *i += 2;
                }
                out.push((segs, name));
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((segs, "*".into()));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !matches!(toks.get(*i), Some(Tok::Punct('}')) | None) {
                    use_tree(toks, i, &segs, out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::PathSep) => *i += 1, // a leading `::` (an external crate)
            _ => return,
        }
    }
}

impl Crate {
    fn load(root: &Path) -> Crate {
        let mut krate = Crate::default();
        let top = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| root.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no lib.rs or main.rs in {}", root.display()));
        krate.load_file(&top, Vec::new());
        krate
    }

    /// Reads one file (module `module`): its `mod` declarations (loaded in turn), `use`
    /// declarations and paths.
    fn load_file(&mut self, file: &Path, module: Vec<String>) {
        let src = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        self.modules.entry(module.clone()).or_default().file = file.to_path_buf();
        let toks = lex(&src);
        let dir = if file
            .file_name()
            .is_some_and(|n| n == "lib.rs" || n == "main.rs" || n == "mod.rs")
        {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        // Inline modules open at a brace depth: (depth, name).
        let mut inline: Vec<(usize, String)> = Vec::new();
        let mut depth = 0;
        let mut i = 0;
        while i < toks.len() {
            let here: Vec<String> = module
                .iter()
                .cloned()
                .chain(inline.iter().map(|(_, n)| n.clone()))
                .collect();
            match &toks[i] {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if inline.last().is_some_and(|(d, _)| *d == depth) {
                        inline.pop();
                    }
                }
                Tok::Ident(k) if k == "mod" => {
                    if let Some(Tok::Ident(name)) = toks.get(i + 1) {
                        let child: Vec<String> =
                            here.iter().cloned().chain([name.clone()]).collect();
                        self.modules
                            .entry(here.clone())
                            .or_default()
                            .children
                            .insert(name.clone(), child.clone());
                        match toks.get(i + 2) {
                            Some(Tok::Punct(';')) => {
                                let f = if dir.join(format!("{name}.rs")).is_file() {
                                    dir.join(format!("{name}.rs"))
                                } else {
                                    dir.join(name).join("mod.rs")
                                };
                                self.load_file(&f, child);
                            }
                            Some(Tok::Punct('{')) => {
                                self.modules.entry(child).or_default().file = file.to_path_buf();
                                inline.push((depth, name.clone()));
                                depth += 1;
                                i += 2;
                            }
                            _ => {}
                        }
                        i += 2;
                        continue;
                    }
                }
                Tok::Ident(k) if k == "use" => {
                    let public = visibility_before(&toks, i);
                    let mut j = i + 1;
                    let mut uses = Vec::new();
                    use_tree(&toks, &mut j, &[], &mut uses);
                    for (segs, name) in uses {
                        let p = || RawPath {
                            module: here.clone(),
                            segs: segs.clone(),
                        };
                        if public && name != "*" {
                            self.reexports
                                .entry(here.clone())
                                .or_default()
                                .insert(name, p());
                        }
                        self.paths.push((file.to_path_buf(), p()));
                    }
                    i = j;
                    continue;
                }
                Tok::Ident(first)
                    if (i == 0 || toks[i - 1] != Tok::PathSep)
                        && toks.get(i + 1) == Some(&Tok::PathSep) =>
                {
                    let mut segs = vec![first.clone()];
                    let mut j = i + 1;
                    while toks.get(j) == Some(&Tok::PathSep) {
                        match toks.get(j + 1) {
                            Some(Tok::Ident(s)) => segs.push(s.clone()),
                            _ => break,
                        }
                        j += 2;
                    }
                    self.paths.push((
                        file.to_path_buf(),
                        RawPath {
                            module: here.clone(),
                            segs,
                        },
                    ));
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The absolute module path of `p`'s segments, or `None` for an external path.
    fn absolute(&self, p: &RawPath) -> Option<Vec<String>> {
        let mut base = p.module.clone();
        let mut segs = p.segs.as_slice();
        match segs.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                segs = &segs[1..];
            }
            Some("self") => segs = &segs[1..],
            Some("super") => {
                while segs.first().is_some_and(|s| s == "super") {
                    base.pop();
                    segs = &segs[1..];
                }
            }
            Some(first) => {
                let m = self.modules.get(&base)?;
                if !m.children.contains_key(first) {
                    return None;
                }
            }
            None => return None,
        }
        Some(base.into_iter().chain(segs.iter().cloned()).collect())
    }

    /// The file that defines what the absolute path `segs` names (following re-exports).
    fn file_of(&self, segs: &[String], hops: usize) -> Option<PathBuf> {
        let mut module: Vec<String> = Vec::new();
        let mut rest = segs;
        while let Some(first) = rest.first() {
            match self
                .modules
                .get(&module)
                .and_then(|m| m.children.get(first))
            {
                Some(child) => {
                    module = child.clone();
                    rest = &rest[1..];
                }
                None => break,
            }
        }
        if let Some(item) = rest.first() {
            if let Some(target) = self.reexports.get(&module).and_then(|r| r.get(item)) {
                if hops < 16 {
                    if let Some(abs) = self.absolute(target) {
                        let mut full = abs;
                        full.extend(rest[1..].iter().cloned());
                        if full != segs {
                            return self.file_of(&full, hops + 1);
                        }
                    }
                }
            }
        }
        self.modules.get(&module).map(|m| m.file.clone())
    }

    /// Every `(importer, imported)` pair of distinct files.
    fn edges(&self) -> BTreeSet<(PathBuf, PathBuf)> {
        let mut out = BTreeSet::new();
        for (file, p) in &self.paths {
            let Some(abs) = self.absolute(p) else {
                continue;
            };
            if let Some(target) = self.file_of(&abs, 0) {
                if &target != file {
                    out.insert((file.clone(), target));
                }
            }
        }
        out
    }
}

/// Whether the `use` at `toks[i]` is public (`pub`, `pub(crate)`, `pub(super)`, ...).
fn visibility_before(toks: &[Tok], i: usize) -> bool {
    match i.checked_sub(1).map(|k| &toks[k]) {
        Some(Tok::Ident(s)) if s == "pub" => true,
        Some(Tok::Punct(')')) => (2..=4).any(|back| {
            i.checked_sub(back)
                .is_some_and(|k| toks[k] == Tok::Ident("pub".into()))
        }),
        _ => false,
    }
}

/// The pairs of files of the crate at `root` that import each other.
fn mutual_imports(root: &Path) -> Vec<(PathBuf, PathBuf)> {
    let edges = Crate::load(root).edges();
    edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .cloned()
        .collect()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[test]
fn no_two_files_import_each_other() {
    let mut failures = Vec::new();
    for (name, dir) in CRATES {
        let root = workspace().join(dir);
        let edges = Crate::load(&root).edges();
        assert!(!edges.is_empty(), "{name}: no imports found in {dir}");
        for (a, b) in mutual_imports(&root) {
            let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
            failures.push(format!("{name}: {} <-> {}", rel(&a), rel(&b)));
        }
    }
    assert!(
        failures.is_empty(),
        "files that import each other:\n{}",
        failures.join("\n")
    );
}

/// The checker finds a mutual import through a re-export, through `super`, in a macro body
/// and in an inline path, and does not count `mod` declarations or one-way imports.
#[test]
fn the_checker_sees_cycles_and_only_cycles() {
    let dir = std::env::temp_dir().join(format!("maxl-import-cycles-{}", std::process::id()));
    let write = |rel: &str, src: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, src).expect("write");
    };
    write(
        "lib.rs",
        "pub mod a;\nmod fam;\nmod one;\npub use a::Thing;\n// use crate::one::X; (a comment)\n",
    );
    write("a.rs", "use crate::fam::helper;\npub struct Thing;\n");
    write(
        "fam/mod.rs",
        "mod kernel;\npub fn helper() {}\nmacro_rules! m { () => { $crate::Thing } }\n",
    );
    write(
        "fam/kernel.rs",
        "fn f() { let _ = super::helper(); let s = \"crate::one::X\"; }\n",
    );
    write("one.rs", "pub struct X;\nfn g() { crate::fam::helper() }\n");
    let root = dir.clone();
    let found = mutual_imports(&root);
    let _ = std::fs::remove_dir_all(&dir);
    let rel: Vec<(String, String)> = found
        .iter()
        .map(|(a, b)| {
            let r = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
            (r(a), r(b))
        })
        .collect();
    // a.rs -> fam/mod.rs (helper) and fam/mod.rs -> a.rs (Thing, through lib.rs's re-export,
    // in a macro body); fam/kernel.rs -> fam/mod.rs and one.rs -> fam/mod.rs are one way.
    assert_eq!(rel, vec![("a.rs".to_string(), "fam/mod.rs".to_string())]);
}
