"""The architecture as CONTRIBUTING.md describes it: no import cycles, and a layout section naming every module."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "models", "resampling")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Every import of a project module, wherever it is written (module level, in a function, or under
    TYPE_CHECKING), as an edge; ``from pkg import module`` points at the module."""
    modules = project_modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    # package __init__ modules that import their members for registration are edges too
    assert find_cycle(import_graph()) is None, " → ".join(find_cycle(import_graph()))


# Who may import whom, beyond "no cycle": (importer prefix, imported prefix, why it is forbidden). The building
# blocks (treatments, models, metrics) and the consumers of saved runs (serving) sit below the runners.
FORBIDDEN = (
    ("resampling", "benchmark.running", "treatments are used by the runners, not the other way round"),
    ("resampling", "benchmark.reporting", "treatments know nothing of reports"),
    ("models", "benchmark.running", "models are built by the runners"),
    ("models", "benchmark.reporting", "models know nothing of reports"),
    ("benchmark.metrics", "benchmark.running", "metrics are pure functions of arrays"),
    ("benchmark.metrics", "benchmark.reporting", "metrics are pure functions of arrays"),
    ("benchmark.metrics", "benchmark.cli", "metrics are pure functions of arrays"),
    ("benchmark.serving", "benchmark.running", "a bundle is served without the training code"),
    ("benchmark.serving", "benchmark.reporting", "a bundle is served without the report code"),
    ("benchmark.data", "benchmark.running", "data are built before anything runs"),
    ("benchmark.data", "benchmark.reporting", "data are built before anything is reported"),
)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    inside = lambda module, prefix: module == prefix or module.startswith(prefix + ".")  # noqa: E731
    return [f"{a} imports {b}: {why}" for a, targets in sorted(graph.items()) for b in sorted(targets)
            for low, high, why in FORBIDDEN if inside(a, low) and inside(b, high)]


def test_no_module_imports_a_layer_above_it():
    assert layer_violations(import_graph()) == []


def test_the_layer_check_finds_a_violation():
    assert layer_violations({"resampling.neighbours": {"benchmark.running.compute"}}) == [
        "resampling.neighbours imports benchmark.running.compute: treatments are used by the runners, not the other "
        "way round"]


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_only_the_store_knows_the_run_store_layout():
    """The file names of the run store are spelled out in benchmark/store.py and nowhere else."""
    names = ("grid.json", "metrics.json", "test_predictions.npy", "test_labels.npy", "test_records.npy", "model.keras",
             "error.json")
    for path in (ROOT / "benchmark").rglob("*.py"):
        if path.name == "store.py":
            continue
        text = path.read_text()
        assert not [n for n in names if f'"{n}"' in text], f"{path.relative_to(ROOT)} spells the store's layout"


def test_the_readme_layout_names_every_module_and_no_other():
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    section = guide[guide.index("## Layout"):guide.index("## Tests and CI")]
    named = set(re.findall(r"\b((?:benchmark|models|resampling)/[\w/]+\.py)", section))
    actual = {p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.py")
              if p.name != "__init__.py"}
    assert named == actual, f"missing from CONTRIBUTING.md's layout: {sorted(actual - named)}; not in the tree: {sorted(named - actual)}"


def test_every_sub_package_says_what_it_owns():
    for init in (ROOT / "benchmark").glob("*/__init__.py"):
        assert len(ast.get_docstring(ast.parse(init.read_text())) or "") > 80, init


# Imports that another declared package brings and that the project uses only beside it, each with its
# reason; the Keras backend the user chose (torch) is theirs to install.
BROUGHT_BY = {"starlette": "fastapi (whose request and response types the server uses)",
              "threadpoolctl": "scikit-learn (which depends on it)",
              "torch": "the user (KERAS_BACKEND=torch: the device is read from it only then)"}
# import name → distribution name where the two differ
DISTRIBUTION = {"sklearn": "scikit-learn", "imblearn": "imbalanced-learn", "smote_variants": "smote-variants",
                "multipart": "python-multipart"}


def declared_requirements() -> set[str]:
    """Every distribution setup.cfg names, in install_requires or an extra, its name normalised."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    lines += [line for value in cfg["options.extras_require"].values() for line in value.splitlines()]
    return {normalised(re.split(r"[<>=!~\[; ]", line.strip())[0]) for line in lines if line.strip()}


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> dict[str, str]:
    """{top-level import name: the first project file importing it} of every package outside the standard
    library and the project that the project's code imports."""
    import sys

    found = {}
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")] + [ROOT / "run_benchmark.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in PACKAGES and top != "run_benchmark":
                    found.setdefault(top, path.relative_to(ROOT).as_posix())
    return found


def test_every_package_the_code_imports_is_declared_in_setup_cfg():
    """A fresh `pip install -e .` (or an extra) must bring what the code imports: a model saved with skops
    once failed every scikit-learn run on a fresh machine because skops was installed here by hand."""
    declared = declared_requirements()
    missing = {name: where for name, where in third_party_imports().items()
               if name not in BROUGHT_BY and normalised(DISTRIBUTION.get(name, name)) not in declared}
    assert not missing, f"imported but not declared in setup.cfg: {missing}"


def test_the_declarations_are_read_from_install_requires_and_every_extra():
    declared = declared_requirements()
    assert {"scikit-learn", "skops", "ray", "smote-variants", "python-multipart"} <= declared  # ray[tune] is ray
    assert normalised("Scikit_Learn") == "scikit-learn"
