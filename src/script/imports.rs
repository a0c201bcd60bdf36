//! Where `import "name"` finds its module: the importing script's own folder first, then the
//! stdlib folder. Loading a module runs its top level, which may import in turn; an import
//! that leads back to a file still being loaded (a script importing itself, two modules
//! importing each other) is refused with the whole cycle, file and line of each import,
//! instead of recursing until the process's stack overflows.

use std::path::{Path, PathBuf};

use rhai::module_resolvers::{FileModuleResolver, ModuleResolversCollection};
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};

/// One import being loaded: which file, and the import that asked for it.
#[derive(Debug, Clone)]
struct Link {
    file: PathBuf,
    /// `file:line` of the `import` statement.
    at: String,
    id: String,
}

/// The module resolver of one script's engines.
pub(crate) struct Imports {
    dirs: Vec<PathBuf>,
    inner: ModuleResolversCollection,
    /// The script being compiled: importing it is a cycle too.
    root: Option<PathBuf>,
}

thread_local! {
    /// The imports being loaded on this thread, outermost first. Rhai resolves an import on
    /// the thread that runs the script, nested imports inside it; one resolver serves every
    /// worker thread, so the chain is the thread's, not the resolver's.
    static CHAIN: std::cell::RefCell<Vec<Link>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes the link it pushed off the chain when the import is done, however it ends (an
/// error, a panic, a task abandoned while the module's top level ran).
struct Loading {
    depth: usize,
}

impl Drop for Loading {
    fn drop(&mut self) {
        CHAIN.with(|c| c.borrow_mut().truncate(self.depth));
    }
}

impl Imports {
    /// Resolves from `script_dir`, then `stdlib`; `root` is the script whose imports these are.
    pub fn new(script_dir: &Path, stdlib: Option<&Path>, root: Option<&Path>) -> Self {
        let dirs: Vec<PathBuf> = std::iter::once(script_dir)
            .chain(stdlib)
            .map(Path::to_path_buf)
            .collect();
        let mut inner = ModuleResolversCollection::new();
        for dir in &dirs {
            inner.push(FileModuleResolver::new_with_path(dir));
        }
        Self {
            dirs,
            inner,
            root: root.and_then(|r| r.canonicalize().ok()),
        }
    }

    /// The file an import of `id` reads: the first folder that has it.
    pub fn file_of(&self, id: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| FileModuleResolver::new_with_path(dir).get_file_path(id, None))
            .find(|file| file.is_file())
    }

    fn cycle(&self, chain: &[Link], file: &Path, at: &str, id: &str) -> String {
        let start = chain.iter().position(|l| l.file == file).unwrap_or(0);
        let mut steps: Vec<String> = chain[start..]
            .iter()
            .map(|l| format!("{} imports \"{}\" ({})", l.at, l.id, l.file.display()))
            .collect();
        steps.push(format!("{at} imports \"{id}\" ({})", file.display()));
        format!(
            "import cycle: {}; a module cannot import itself, directly or through others",
            steps.join(", then ")
        )
    }
}

/// `file:line` of an import: `source` is the importing script's path, or for a module the
/// name it was imported by, which the chain knows the file of.
fn position_in(source: Option<&str>, pos: Position, chain: &[Link]) -> String {
    let file = match source {
        Some(id) => chain
            .iter()
            .rev()
            .find(|l| l.id == id)
            .map_or_else(|| id.to_string(), |l| l.file.display().to_string()),
        None => "the script".to_string(),
    };
    match pos.line() {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

impl ModuleResolver for Imports {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let Some(file) = self.file_of(path).and_then(|f| f.canonicalize().ok()) else {
            // Not found: the collection says so in Rhai's words.
            return self.inner.resolve(engine, source, path, pos);
        };
        let looped = CHAIN.with(|c| {
            let chain = c.borrow();
            let at = position_in(source, pos, &chain);
            let in_chain = chain.iter().any(|l| l.file == file);
            if in_chain {
                return Err(self.cycle(&chain, &file, &at, path));
            }
            if self.root.as_ref() == Some(&file) {
                return Err(format!(
                    "import cycle: {at} imports \"{path}\", the script being loaded ({}); a \
                     module cannot import itself, directly or through others",
                    file.display()
                ));
            }
            Ok(at)
        });
        let at = match looped {
            Ok(at) => at,
            Err(message) => return Err(EvalAltResult::ErrorRuntime(message.into(), pos).into()),
        };
        let loading = Loading {
            depth: CHAIN.with(|c| {
                let mut chain = c.borrow_mut();
                chain.push(Link {
                    file: file.clone(),
                    at,
                    id: path.to_string(),
                });
                chain.len() - 1
            }),
        };
        let resolved = self.inner.resolve(engine, source, path, pos);
        drop(loading);
        // An error inside the module names it by the name it was imported by; name its file.
        resolved.map_err(|e| match *e {
            EvalAltResult::ErrorInModule(name, inner, at) if name == path => {
                EvalAltResult::ErrorInModule(file.display().to_string(), inner, at).into()
            }
            e => e.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::script::{Limits, compile_any};

    fn folder(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stress-imports-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    const CLASS: &str = "user_class(\"C\", #{ tier: \"guest\", weight: 1, wait: 1 });\n\
                         /// @task(1)\nfn t() { }\n";

    #[test]
    fn a_script_that_imports_itself_is_an_error_not_a_crash() {
        let dir = folder(
            "self",
            &[("a.rhai", &format!("import \"a\" as a;\n{CLASS}"))],
        );
        let e = compile_any(&dir.join("a.rhai"), None, &Limits::default()).unwrap_err();
        assert!(e.message.contains("import cycle"), "{e}");
        assert!(e.message.contains("a.rhai:1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_modules_importing_each_other_name_both_imports() {
        let dir = folder(
            "pair",
            &[
                ("main.rhai", &format!("import \"b\" as b;\n{CLASS}")),
                ("b.rhai", "\nimport \"c\" as c;\nfn x() { 1 }\n"),
                ("c.rhai", "import \"b\" as b;\nfn y() { 2 }\n"),
            ],
        );
        let e = compile_any(&dir.join("main.rhai"), None, &Limits::default()).unwrap_err();
        assert!(e.message.contains("import cycle"), "{e}");
        assert!(e.message.contains("b.rhai:2 imports \"c\""), "{e}");
        assert!(e.message.contains("c.rhai:1 imports \"b\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_module_imported_twice_without_a_cycle_is_fine() {
        let dir = folder(
            "diamond",
            &[
                (
                    "main.rhai",
                    &format!("import \"b\" as b;\nimport \"c\" as c;\n{CLASS}"),
                ),
                ("b.rhai", "import \"d\" as d;\nfn x() { 1 }\n"),
                ("c.rhai", "import \"d\" as d;\nfn y() { 2 }\n"),
                ("d.rhai", "fn z() { 3 }\n"),
            ],
        );
        compile_any(&dir.join("main.rhai"), None, &Limits::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
