//! Compiling scripts into user classes: one file, one class. Each compile gets fresh module
//! resolvers (the script's own folder first, then `stdlib/`), so an edited module is always
//! read again (Rhai's file resolver would otherwise cache it forever).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::Rng;
use rhai::{Engine, EvalAltResult, ImmutableString, Map, Module, NativeCallContext, Scope};

use super::calls;
use super::decl::{self, ClassDecl, TaskDecl};
use super::engine::{Limits, base_engine};
use super::error::{ScriptError, locate};
use super::imports::Imports;
use super::{host, shadow};

/// One compiled user class, ready to run. Shared by all its virtual users (and threads).
pub struct ClassScript {
    /// The script's path as the user gave it, for messages.
    pub file: PathBuf,
    pub decl: ClassDecl,
    pub tasks: Vec<TaskDecl>,
    pub has_on_start: bool,
    pub has_on_stop: bool,
    /// The engine tasks run on: host functions, limits, and the script's imports.
    pub engine: Engine,
    /// The source name Rhai reports in errors (the file's path).
    pub source: ImmutableString,
    /// Whether tasks may resolve names through caches earlier tasks warmed: not when a name
    /// calls different functions from different places (`shadow`).
    pub warm_caches: bool,
    /// What the user should know that does not stop the class (a name that clashes).
    pub warnings: Vec<ScriptError>,
    cumulative: Vec<u64>,
    /// Line of each task, on_start and on_stop, for errors Rhai reports without one.
    lines: Vec<(String, usize)>,
    /// The script version this class belongs to: 0 at start, then one more per reload.
    pub version: u64,
}

impl std::fmt::Debug for ClassScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassScript")
            .field("file", &self.file)
            .field("decl", &self.decl)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl ClassScript {
    /// The error for this class's name being declared by another file too.
    pub(crate) fn already_declared(&self, other: &Path) -> ScriptError {
        ScriptError {
            file: self.file.clone(),
            line: self.decl.line,
            col: 1,
            message: format!(
                "class {} is already declared in {}",
                self.decl.name,
                other.display()
            ),
        }
    }

    /// Draws a task by weight.
    pub fn pick_task(&self, rng: &mut impl Rng) -> usize {
        let total = *self.cumulative.last().expect("a class has tasks");
        let x = rng.random_range(0..total);
        self.cumulative.partition_point(|&c| c <= x)
    }

    /// The line where function `name` is defined (0 if unknown).
    pub fn line_of(&self, name: &str) -> usize {
        self.lines
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, l)| *l)
    }

    pub fn total_task_weight(&self) -> u64 {
        *self.cumulative.last().expect("a class has tasks")
    }
}

/// A `.rhai` file to load: named on its own (it must declare a class), or found in a folder
/// (where a file without `user_class` is a module the others import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub in_folder: bool,
}

/// Every `.rhai` file named, with folders expanded to the scripts directly inside them (sorted,
/// so the class order is stable).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Found>, ScriptError> {
    let mut files = Vec::new();
    for path in paths {
        let fail = |m: String| ScriptError {
            file: path.clone(),
            line: 0,
            col: 0,
            message: m,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| fail(format!("cannot list: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rhai") && p.is_file())
                .collect();
            if found.is_empty() {
                return Err(fail("no .rhai scripts in this folder".into()));
            }
            found.sort();
            files.extend(found.into_iter().map(|path| Found {
                path,
                in_folder: true,
            }));
        } else {
            files.push(Found {
                path: path.clone(),
                in_folder: false,
            });
        }
    }
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// Compiles one script that must declare a class.
pub fn compile(
    path: &Path,
    stdlib: Option<&Path>,
    limits: &Limits,
) -> Result<ClassScript, ScriptError> {
    compile_any(path, stdlib, limits)?.ok_or_else(|| ScriptError {
        file: path.to_path_buf(),
        line: 1,
        col: 1,
        message: "no user_class(..) declaration; add for example \
                  user_class(\"GuestUser\", #{ tier: \"guest\", weight: 80, wait: between(1, 5) });"
            .into(),
    })
}

/// Compiles one script: parses it, runs its top level once (imports and `user_class`), and
/// reads its tasks. `None` for a module (no `user_class`). Every problem comes back with the
/// file, line and column.
pub fn compile_any(
    path: &Path,
    stdlib: Option<&Path>,
    limits: &Limits,
) -> Result<Option<ClassScript>, ScriptError> {
    let source_name = path.display().to_string();
    let at = |line: usize, col: usize, m: String| ScriptError {
        file: path.to_path_buf(),
        line,
        col,
        message: m,
    };
    let source =
        std::fs::read_to_string(path).map_err(|e| at(0, 0, format!("cannot read: {e}")))?;
    let script_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));

    // The top level runs on an engine that also knows `user_class`.
    let declared: Arc<Mutex<Vec<ClassDecl>>> = Arc::default();
    let mut top = base_engine(limits);
    host::register(&mut top);
    let sink = declared.clone();
    top.register_fn(
        "user_class",
        move |ctx: NativeCallContext, name: &str, options: Map| -> Result<(), Box<EvalAltResult>> {
            let decl = decl::class_from_call(name, &options, ctx.call_position())?;
            sink.lock().expect("declarations").push(decl);
            Ok(())
        },
    );
    top.set_module_resolver(Imports::new(script_dir, stdlib, Some(path)));

    let mut ast = top.compile(&source).map_err(|e| {
        let pos = e.position();
        at(
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0),
            e.err_type().to_string(),
        )
    })?;
    ast.set_source(source_name.as_str());
    let module =
        Module::eval_ast_as_new(Scope::new(), &ast, &top).map_err(|e| locate(&source_name, &e))?;
    if let Some(first) = calls::unknown_calls(&top, &ast, &module, path)
        .into_iter()
        .next()
    {
        return Err(first);
    }

    let decl = {
        let mut declared = declared.lock().expect("declarations");
        match declared.len() {
            1 => declared.remove(0),
            0 => return Ok(None),
            _ => {
                return Err(at(
                    declared[1].line,
                    1,
                    format!(
                        "a second user_class(..) declaration (one class per file; the first is on line {})",
                        declared[0].line
                    ),
                ));
            }
        }
    };
    let tasks = decl::tasks(&ast, &source_name, &source)?;
    if tasks.is_empty() {
        return Err(at(
            decl.line,
            1,
            format!(
                "class {} has no task; mark a function with `/// @task(N)` above its `fn`",
                decl.name
            ),
        ));
    }
    let has = |name: &str| ast.iter_functions().any(|f| f.name == name);
    let (has_on_start, has_on_stop) = (has("on_start"), has("on_stop"));

    let mut engine = base_engine(limits);
    // A task is entered through `EvalContext::call_fn_raw` (see `vu::task`), one call level
    // deeper than `Engine::call_fn` entered it: the script keeps the levels it had.
    engine.set_max_call_levels(limits.max_call_levels + 1);
    host::register(&mut engine);
    engine.register_fn(
        "user_class",
        |ctx: NativeCallContext, _: &str, _: Map| -> Result<(), Box<EvalAltResult>> {
            Err(EvalAltResult::ErrorRuntime(
                "user_class(..) belongs at the top level of a script, not inside a function".into(),
                ctx.call_position(),
            )
            .into())
        },
    );
    let shadowing = shadow::look(&engine, &module, (&ast, &source, &source_name), |id| {
        Imports::new(script_dir, stdlib, None).file_of(id)
    });
    let warnings = shadowing
        .iter()
        .flat_map(|s| &s.clashes)
        .map(|c| ScriptError {
            file: c.file.clone().into(),
            line: c.line,
            col: 1,
            message: c.to_string(),
        })
        .collect();
    for (alias, imported) in module.iter_sub_modules() {
        engine.register_static_module(alias, imported.clone());
    }
    engine.set_module_resolver(Imports::new(script_dir, stdlib, Some(path)));
    // Tasks are called through the module the top level made: its functions carry the script's
    // environment (imports and top-level constants), so a task sees `global::NAME` as any Rhai
    // function does.
    engine.register_global_module(module.into());

    let mut cumulative = Vec::with_capacity(tasks.len());
    let mut sum = 0u64;
    for t in &tasks {
        sum += u64::from(t.weight);
        cumulative.push(sum);
    }
    let lines = tasks
        .iter()
        .map(|t| t.name.as_str())
        .chain(["on_start", "on_stop"])
        .map(|name| (name.to_string(), decl::fn_lines(&source, name).0))
        .collect();
    Ok(Some(ClassScript {
        version: 0,
        lines,
        file: path.to_path_buf(),
        decl,
        tasks,
        has_on_start,
        has_on_stop,
        engine,
        source: source_name.into(),
        warm_caches: shadowing.is_some_and(|s| s.warm_caches()),
        warnings,
        cumulative,
    }))
}

/// The classes of a run, compiled from the scripts named on the command line, and what is
/// needed to compile them again (a reload).
#[derive(Debug)]
pub struct ScriptSet {
    pub classes: Vec<Arc<ClassScript>>,
    /// The scripts and folders as named.
    pub paths: Vec<PathBuf>,
    pub stdlib: Option<PathBuf>,
    pub limits: Limits,
}

impl ScriptSet {
    /// What the classes' users should know that does not stop them.
    pub fn warnings(&self) -> impl Iterator<Item = &ScriptError> {
        self.classes.iter().flat_map(|c| &c.warnings)
    }

    /// Compiles every script; the first error stops the load. Two files may not declare the
    /// same class name.
    pub fn load(
        paths: &[PathBuf],
        stdlib: Option<&Path>,
        limits: &Limits,
    ) -> Result<Self, ScriptError> {
        let mut classes: Vec<Arc<ClassScript>> = Vec::new();
        for found in discover(paths)? {
            let file = found.path;
            let class = if found.in_folder {
                match compile_any(&file, stdlib, limits)? {
                    Some(class) => class,
                    None => continue,
                }
            } else {
                compile(&file, stdlib, limits)?
            };
            if let Some(other) = classes.iter().find(|c| c.decl.name == class.decl.name) {
                return Err(class.already_declared(&other.file));
            }
            classes.push(Arc::new(class));
        }
        if classes.is_empty() {
            return Err(ScriptError {
                file: paths.first().cloned().unwrap_or_default(),
                line: 0,
                col: 0,
                message: "no user class here: every .rhai file lacks a user_class(..) \
                          declaration (files without one are modules for the others to import)"
                    .into(),
            });
        }
        Ok(Self {
            classes,
            paths: paths.to_vec(),
            stdlib: stdlib.map(Path::to_path_buf),
            limits: *limits,
        })
    }

    pub fn weights(&self) -> Vec<u32> {
        self.classes.iter().map(|c| c.decl.weight).collect()
    }
}
