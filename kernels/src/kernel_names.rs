//! The names of the kernels a `.cu` source defines, found as NVRTC will: the source is run
//! through a small C preprocessor (comments, line continuations, object- and function-like
//! `#define`s with `#` / `##`, X-macros; conditionals are not evaluated) and every
//! `extern "C" __global__ ... void [__launch_bounds__(..)] name(` is a kernel. `build.rs` uses
//! it to derive `modules.rs`' kernel lists at build time (so they are never typed by hand), and
//! `tests/compile.rs` checks its lists against the PTX entries NVRTC emits.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// Any other token (punctuation, numbers, literals), verbatim.
    Other(String),
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Ident(s) | Tok::Other(s) => s,
        }
    }
}

/// A `#define`: parameters (`None` for an object-like macro) and body tokens.
#[derive(Debug, Clone)]
struct Macro {
    params: Option<Vec<String>>,
    body: Vec<Tok>,
}

/// The source without comments, with continuation lines joined.
fn clean(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied().unwrap_or('\0');
        if c[i] == '\\' && next == '\n' {
            i += 2;
        } else if c[i] == '/' && next == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == '*' {
            i += 2;
            while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                if c[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if c[i] == '"' {
            let start = i;
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.extend(&c[start..i.min(c.len())]);
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn lex(line: &str) -> Vec<Tok> {
    let c: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[s..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '.' || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Other(c[s..i].iter().collect()));
        } else if ch == '"' || ch == '\'' {
            let s = i;
            i += 1;
            while i < c.len() && c[i] != ch {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Tok::Other(c[s..i.min(c.len())].iter().collect()));
        } else if ch == '#' && c.get(i + 1) == Some(&'#') {
            out.push(Tok::Other("##".into()));
            i += 2;
        } else {
            out.push(Tok::Other(ch.to_string()));
            i += 1;
        }
    }
    out
}

/// Splits `#define` lines off the code; returns the macros and the code's tokens.
fn preprocess(src: &str, macros: &mut HashMap<String, Macro>) -> Vec<Tok> {
    let mut code = Vec::new();
    for line in clean(src).lines() {
        let t = line.trim_start();
        let Some(directive) = t.strip_prefix('#') else {
            code.extend(lex(line));
            continue;
        };
        let directive = directive.trim_start();
        let Some(def) = directive.strip_prefix("define") else {
            continue;
        };
        let def = def.trim_start();
        let name_len = def
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(def.len());
        let (name, rest) = def.split_at(name_len);
        let (params, body) = match rest.strip_prefix('(') {
            Some(r) => match r.find(')') {
                Some(close) => {
                    let ps = r[..close]
                        .split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect();
                    (Some(ps), &r[close + 1..])
                }
                None => continue,
            },
            None => (None, rest),
        };
        macros.insert(
            name.to_string(),
            Macro {
                params,
                body: lex(body),
            },
        );
    }
    code
}

/// A token with its hide set: the macros it came out of (not expanded again in it).
#[derive(Debug, Clone)]
struct HTok {
    tok: Tok,
    hide: Vec<String>,
}

/// The arguments of a macro call whose `(` is at `toks[0]`; returns them and the number of
/// tokens the call's `( ... )` spans.
fn call_args<T: Clone>(toks: &[T], text: impl Fn(&T) -> &str) -> Option<(Vec<Vec<T>>, usize)> {
    if toks.first().map(&text) != Some("(") {
        return None;
    }
    let mut args = vec![Vec::new()];
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(1) {
        match text(t) {
            "(" => depth += 1,
            ")" if depth == 0 => {
                if args.len() == 1 && args[0].is_empty() {
                    args.clear();
                }
                return Some((args, i + 1));
            }
            ")" => depth -= 1,
            "," if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(a) = args.last_mut() {
            a.push(t.clone());
        }
    }
    None
}

/// `body` with parameters replaced by arguments: raw beside `##` (then pasted), expanded
/// elsewhere.
fn substitute(m: &Macro, args: &[Vec<HTok>], macros: &HashMap<String, Macro>) -> Vec<HTok> {
    let params = m.params.as_deref().unwrap_or(&[]);
    let arg_of = |t: &Tok| match t {
        Tok::Ident(s) => params.iter().position(|p| p == s).and_then(|k| args.get(k)),
        Tok::Other(_) => None,
    };
    let plain = |t: Tok| HTok {
        tok: t,
        hide: Vec::new(),
    };
    let mut out: Vec<HTok> = Vec::new();
    let body = &m.body;
    let pasted = |k: usize| body.get(k).is_some_and(|t| t.text() == "##");
    let mut i = 0;
    while i < body.len() {
        let t = &body[i];
        if t.text() == "#" {
            if let Some(a) = body.get(i + 1).and_then(arg_of) {
                let s: Vec<&str> = a.iter().map(|h| h.tok.text()).collect();
                out.push(plain(Tok::Other(format!("\"{}\"", s.join(" ")))));
                i += 2;
                continue;
            }
        }
        if t.text() == "##" {
            // Paste the last token out with the first of what follows (raw).
            let next = body.get(i + 1);
            let rhs: Vec<HTok> = match next.and_then(arg_of) {
                Some(a) => a.clone(),
                None => next.cloned().map(plain).into_iter().collect(),
            };
            let lhs = out.pop();
            let joined = format!(
                "{}{}",
                lhs.as_ref().map_or("", |h| h.tok.text()),
                rhs.first().map_or("", |h| h.tok.text())
            );
            out.extend(lex(&joined).into_iter().map(plain));
            out.extend(rhs.into_iter().skip(1));
            i += 2;
            continue;
        }
        match arg_of(t) {
            Some(a) if pasted(i + 1) || (i > 0 && pasted(i - 1)) => out.extend(a.iter().cloned()),
            Some(a) => out.extend(expand(a.clone(), macros)),
            None => out.push(plain(t.clone())),
        }
        i += 1;
    }
    out
}

/// Expands every macro in `toks`, rescanning each expansion together with what follows it (so
/// that a macro name produced by a body takes its arguments from there, as X-macros need); a
/// token is not expanded by a macro it came out of.
fn expand(toks: Vec<HTok>, macros: &HashMap<String, Macro>) -> Vec<HTok> {
    let mut work: std::collections::VecDeque<HTok> = toks.into();
    let mut out = Vec::new();
    while let Some(t) = work.pop_front() {
        let m = match &t.tok {
            Tok::Ident(name) if !t.hide.contains(name) => macros.get(name),
            _ => None,
        };
        let Some(m) = m else {
            out.push(t);
            continue;
        };
        let args = match m.params {
            Some(_) => {
                work.make_contiguous();
                match call_args(work.as_slices().0, |h: &HTok| h.tok.text()) {
                    Some((args, used)) => {
                        work.drain(..used);
                        args
                    }
                    None => {
                        out.push(t);
                        continue;
                    }
                }
            }
            None => Vec::new(),
        };
        let mut hide = t.hide.clone();
        hide.push(t.tok.text().to_string());
        for mut r in substitute(m, &args, macros).into_iter().rev() {
            r.hide.extend(hide.iter().cloned());
            work.push_front(r);
        }
    }
    out
}

/// The kernels (`extern "C" __global__` functions) of `source`, in order, given the sources
/// of the headers whose macros it may use.
pub fn kernel_names(source: &str, headers: &[&str]) -> Vec<String> {
    let mut macros = HashMap::new();
    for h in headers {
        preprocess(h, &mut macros);
    }
    let code = preprocess(source, &mut macros)
        .into_iter()
        .map(|tok| HTok {
            tok,
            hide: Vec::new(),
        })
        .collect();
    let toks: Vec<Tok> = expand(code, &macros).into_iter().map(|h| h.tok).collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i + 2 < toks.len() {
        let is_kernel = toks[i].text() == "extern"
            && toks[i + 1].text() == "\"C\""
            && toks[i + 2].text() == "__global__";
        if !is_kernel {
            i += 1;
            continue;
        }
        // Up to the name: qualifiers, `void`, and `__launch_bounds__(...)`.
        let mut j = i + 3;
        while j < toks.len() {
            if toks[j].text() == "__launch_bounds__" {
                j += 1 + call_args(&toks[j + 1..], Tok::text).map_or(0, |(_, n)| n);
                continue;
            }
            if toks.get(j + 1).map(Tok::text) == Some("(") {
                if let Tok::Ident(name) = &toks[j] {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                break;
            }
            j += 1;
        }
        i = j + 1;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::kernel_names;

    #[test]
    fn plain_macro_and_x_macro_kernels_are_found() {
        let src = r#"
// extern "C" __global__ void in_a_comment(int n) {}
#define OPS(X) \
    X(neg, -x) \
    X(exp, e(x, 2))
#define KERNEL(name, expr) \
    extern "C" __global__ void name##_f32(float x) { return expr; } \
    extern "C" __global__ void name##_f64(double x) { return expr; }
OPS(KERNEL)
#define TYPED(T, sfx) extern "C" __global__ void fill_##sfx(T* y) {}
TYPED(float, f32)
TYPED(double, f64)
extern "C" __global__ void __launch_bounds__(THREADS, 2) gemm_big_f32(PARAMS(float)) {}
/* extern "C" __global__ void in_a_block_comment() {} */
const char* s = "extern \"C\" __global__ void in_a_string()";
__global__ void not_extern_c(int n) {}
"#;
        assert_eq!(
            kernel_names(src, &["#define THREADS 256\n"]),
            [
                "neg_f32",
                "neg_f64",
                "exp_f32",
                "exp_f64",
                "fill_f32",
                "fill_f64",
                "gemm_big_f32"
            ]
        );
    }
}
