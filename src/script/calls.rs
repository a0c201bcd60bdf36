//! Calls to functions that exist nowhere. Rhai resolves a call when it runs, so a script that
//! calls `send_txt` compiles, and every task then fails; here every call in a script is held
//! against what could answer it (the host functions, Rhai's standard library, the script's own
//! functions, and for `alias::name` the imported module) before anything runs, with a
//! did-you-mean.

use std::collections::BTreeSet;

use rhai::{AST, ASTNode, Engine, Expr, Module, Stmt};

use super::ScriptError;

/// Rhai's own functions, answered by the engine itself rather than by a module.
const BUILT_IN: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "Fn",
    "call",
    "curry",
    "eval",
];

/// The names in a list of signatures (`name(a: i64) -> bool`, `alias::name(..)`).
fn names(signatures: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    signatures
        .into_iter()
        .filter_map(|s| s.split('(').next().map(str::to_string))
        .collect()
}

/// The closest known name, if one is close enough to be what was meant.
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// Every call in `ast` (the script at `file`, whose top level made `module`) to a function
/// that exists nowhere; each with its line and column.
pub(crate) fn unknown_calls(
    engine: &Engine,
    ast: &AST,
    module: &Module,
    file: &std::path::Path,
) -> Vec<ScriptError> {
    let mut known = names(engine.gen_fn_signatures(true));
    known.extend(BUILT_IN.iter().map(|s| s.to_string()));
    known.extend(ast.iter_functions().map(|f| f.name.to_string()));
    let imported: Vec<(String, BTreeSet<String>)> = module
        .iter_sub_modules()
        .map(|(alias, m)| {
            let fns = names(m.gen_fn_signatures_with_mapper(std::borrow::Cow::Borrowed));
            (alias.to_string(), fns)
        })
        .collect();
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        // A call is an expression, or a statement of its own (`f();`).
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, pos)),
            _ => None,
        };
        if let Some((call, pos)) = call
            && call.op_token.is_none()
        {
            let name = call.name.as_str();
            let segments: Vec<&str> = call
                .namespace
                .path
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            let problem = match segments.as_slice() {
                [] if !known.contains(name) => Some(
                    match (
                        imported.iter().find(|(_, fns)| fns.contains(name)),
                        did_you_mean(name, &known),
                    ) {
                        (Some((alias, _)), _) => format!(
                            "no function `{name}` here: it is module `{alias}`'s; call it as \
                             `{alias}::{name}()`"
                        ),
                        (None, Some(close)) => {
                            format!("no function `{name}` exists; did you mean `{close}`?")
                        }
                        (None, None) => format!(
                            "no function `{name}` exists (not a host function, not Rhai's, not \
                             defined in this script)"
                        ),
                    },
                ),
                [alias] => match imported.iter().find(|(a, _)| a == alias) {
                    Some((_, fns)) if !fns.contains(name) => Some(match did_you_mean(name, fns) {
                        Some(close) => format!(
                            "module `{alias}` has no function `{name}`; did you mean \
                                 `{alias}::{close}`?"
                        ),
                        None => format!("module `{alias}` has no function `{name}`"),
                    }),
                    _ => None,
                },
                _ => None,
            };
            if let Some(message) = problem {
                found.push(ScriptError::new(file, *pos, message));
            }
        }
        true
    });
    found
}

#[cfg(test)]
mod tests {
    use crate::script::{Limits, compile_any};

    fn script(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("stress-calls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.rhai");
        std::fs::write(&path, text).unwrap();
        path
    }

    const CLASS: &str = "user_class(\"C\", #{ tier: \"guest\", weight: 1, wait: 1 });\n";

    #[test]
    fn a_misspelled_host_function_is_found_with_a_suggestion() {
        let path = script(
            "typo",
            &format!("{CLASS}/// @task(1)\nfn t() {{\n    let r = send_txt(\"hi\");\n}}\n"),
        );
        let e = compile_any(&path, None, &Limits::default()).unwrap_err();
        assert_eq!((e.line, e.col), (4, 13), "{e}");
        assert!(e.message.contains("`send_txt`"), "{e}");
        assert!(e.message.contains("did you mean `send_text`?"), "{e}");
    }

    #[test]
    fn own_standard_and_imported_functions_are_known() {
        let dir = std::env::temp_dir().join(format!("stress-calls-ok-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("words.rhai"), "fn pick_one() { \"/help\" }\n").unwrap();
        let path = dir.join("s.rhai");
        std::fs::write(
            &path,
            format!(
                "import \"words\" as words;\n{CLASS}fn helper(x) {{ x + 1 }}\n/// @task(1)\n\
                 fn t() {{\n    let n = helper(abs(-2));\n    let s = \"x\";\n    \
                 s.pad(3, \"y\");\n    print(type_of(n));\n    send_command(words::pick_one());\n}}\n"
            ),
        )
        .unwrap();
        compile_any(&path, None, &Limits::default()).unwrap();
        std::fs::write(
            &path,
            format!(
                "import \"words\" as words;\n{CLASS}/// @task(1)\nfn t() {{ words::pick_on(); }}\n"
            ),
        )
        .unwrap();
        let e = compile_any(&path, None, &Limits::default()).unwrap_err();
        assert!(e.message.contains("did you mean `words::pick_one`?"), "{e}");
    }
}
