"""The report's provenance in Markdown: what trained the runs, who scored the saved models on each test set,
and how the validation part was drawn, from the data model of ``benchmark.reporting.analysis``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.provenance import git_commit

if TYPE_CHECKING:
    from benchmark.reporting.analysis import SavedGrid


STAMP = "written by the report code at"  # the one line of a report that names the commit that wrote it


def write_report_text(path, text: str) -> None:
    """Write a report's Markdown, unless the file already says the same but for the commit that wrote it: a
    rebuild that changes nothing leaves the committed file as it is (``report`` with no arguments once rewrote
    every committed report, only to stamp the current commit)."""
    from pathlib import Path

    from benchmark.files import write_text

    def unstamped(t: str) -> list[str]:
        return [line.split(STAMP)[0] for line in t.splitlines()]

    path = Path(path)
    if path.exists() and unstamped(path.read_text()) == unstamped(text):
        return
    write_text(path, text)


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _machine_words(prov: dict) -> str:
    mach = prov.get("machine", {})
    device = prov.get("device", {})
    gpu = f"{device['gpu']}; " if device.get("gpu") else ""
    return (f"{gpu}{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, {mach.get('memory_gib', '?')} GiB; "
            f"{mach.get('platform', '?')}; Keras backend {prov.get('keras_backend', '?')}")


def validation_words(manifest: dict) -> str:
    """How the validation part was drawn, from the records on each side."""
    if "validation_records" not in manifest:
        return ("Validation part: how it was drawn is not recorded in this grid's manifest; grids of that time "
                "drew a stratified sample of the training part's beats, on every split.")
    train, val = set(manifest["train_records"]), manifest["validation_records"]
    if set(val) & train:
        return "Validation part: a stratified sample of the training records' beats (the same patients)."
    return f"Validation part: {len(val)} whole training records held out ({', '.join(val)}): other patients."


def provenance_section(g: SavedGrid) -> list[str]:
    """What trained the runs, read from the runs themselves (a grid may be filled by several invocations)."""
    runs = [m.get("provenance", {}) for m in g.metrics.values()] or [g.manifest.get("provenance", {})]
    commands = _distinct(f"`{p.get('command', 'unknown')}`" for p in runs)
    commits = _distinct(f"`{p.get('commit', 'unknown')}`" for p in runs)
    machines = _distinct(_machine_words(p) for p in runs)
    versions = _distinct(", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items()) for p in runs)
    train = g.manifest["train"]
    lines = []
    if g.errors:
        lines += ["## Runs without results", ""] + [f"- `{r}`: {e}" for r, e in sorted(g.errors.items())] + [""]
    plural = lambda items, one, many: one if len(items) == 1 else many  # noqa: E731
    return lines + [
        "## Provenance", "",
        f"- {plural(commands, 'Command', 'Commands')}: {'; '.join(commands)}",
        f"- {plural(commits, 'Commit that trained the runs', 'Commits that trained the runs')}: "
        f"{', '.join(commits)}; tables {STAMP} `{git_commit()}`",
        f"- Budget: {train['steps']} optimizer steps of batch {train['batch_size']} for every run, "
        f"validation macro F1 every {train['eval_every']} steps, early stop after {train['patience']} "
        f"checks without gain, Adam lr {train['learning_rate']} × {train['lr_decay']} every "
        f"{train['lr_decay_steps']} steps" + cyclical_words(train),
        *own_budget_lines(g),
        f"- Data subset (train, validation, test): {g.manifest['data'].get('subset') or 'none (full data)'}",
        *[f"- Machine: {m}" for m in machines],
        *[f"- Libraries: {v}" for v in versions],
        *evaluation_lines(g),
        "", "Rebuild from the saved runs, without training: `python run_benchmark.py report --results-dir DIR "
        f"--split {g.split} --grid {g.store.name}`, DIR being the folder that holds `{g.split}/`.", "",
    ]


def cyclical_words(train: dict) -> str:
    """The triangular schedule, where a grid used it in place of the step decay (step grids: nothing)."""
    if train.get("lr_schedule", "step") == "step":
        return ""
    return (f", not used: a triangular cyclical lr instead, from {train['lr_min']} up to {train['lr_max']} and "
            f"back every {train['lr_cycle_steps']} steps")


def own_budget_lines(g: SavedGrid) -> list[str]:
    """Models whose budget is their own hyperparameters (scikit-learn's): the step budget does not apply."""
    own = sorted({m["model"] for m in g.metrics.values() if "budget" in m})
    if not own:
        return []
    return [f"- Except {', '.join(f'`{m}`' for m in own)}: trained to {plural_it(own)} own hyperparameters "
            "(recorded in each run's identity); the same number of optimizer steps does not apply to "
            f"{'it' if len(own) == 1 else 'them'}, so {'its' if len(own) == 1 else 'their'} cost and "
            "budget are not comparable with the others'"]


def plural_it(items) -> str:
    return "its" if len(items) == 1 else "their"


def evaluation_lines(g: SavedGrid) -> list[str]:
    """Who scored the saved models on each test set, where it was recorded (it may be another machine)."""
    lines = []
    for name, about in g.about.items():
        pieces = [p for p in about.get("pieces", ()) if "command" in p] if about else []
        if len(pieces) > 1:  # scored in pieces, on the machines that held each piece's models
            lines.append(f"- Evaluation `{name}`, in {len(pieces)} pieces"
                         + (f" ({reproduction_words(g)})" if name == "test" else "") + ":")
            lines += [f"  - {len(p['runs'])} run(s): `{p['command']}` at `{p.get('commit', '?')}` on "
                      f"{_machine_words(p)}" for p in pieces]
        elif about:
            lines.append(f"- Evaluation `{name}`: `{about.get('command', 'unknown')}` at `{about.get('commit', '?')}`"
                         f" on {_machine_words(about)}" + (f"; {reproduction_words(g)}" if name == "test" else ""))
            kept = sum(1 for why in about.get("probabilities", {}).values() if why == "kept with the run")
            if kept and name == "test":
                lines.append(f"  - {kept} run(s) had been stored without their test probabilities; these were computed "
                             "by this evaluation from the saved models (so on its machine), and prior correction "
                             "reads them")
    return lines


def reproduction_words(g: SavedGrid) -> str:
    """How many saved models predicted exactly what their runs stored for the test part (``evaluate --on test``)."""
    table = g.reproduction
    if table is None or "beats_differing" not in table:
        return "reproduction not checked"
    differing = table.beats_differing[table.beats_differing != 0]
    words = f"the saved models reproduced {len(table) - len(differing)} of {len(table)} runs' test predictions exactly"
    if len(differing):
        span = f"{differing.min()}" if differing.min() == differing.max() else f"{differing.min()}–{differing.max()}"
        words += (f"; the others differ in {span} of {len(g.y_true):,} test beats (the tables use the "
                  "runs' stored predictions)")
    return words
