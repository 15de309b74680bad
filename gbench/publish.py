"""Publish a leaderboard: `<dir>/<name>.csv`, `<name>.md`, a self-contained static `<name>.html`, and the records
behind it, copied byte for byte (checksums intact) to `<dir>/runs/<name>/records/`.

`<dir>/runs/<name>` is itself a results directory, so what a clone holds is enough for the per-seed values
(`gbench results seeds`), for `gbench compare` against the page, for republishing it, and for resuming its sweep
(copy it to the run's `--out`): a results folder left on one machine is not the only copy of what was computed.

The page needs nothing but a browser: inline CSS and JS, no network. Its table sorts on a click on a header (again
for the other direction), and `#sort=<column>` or `#sort=-<column>` in the URL sorts it on load through the same
click handler (a headless browser checks exactly that in tests/test_publish.py). Reference numbers stand beside
the measured ones; the environment and the commands come from the records, the only source of truth.
"""

from __future__ import annotations

import html
import json
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbench.errors import GbenchError
from gbench.atomic import write_text
from gbench.report import (_extra_splits, _num, _peak_cell, fmt, memory_note, metric_label, task_deviation_items,
                           write_leaderboard)

ENV_KEYS = ["python", "torch", "torch_geometric", "ogb", "gbench", "git_commit", "numpy", "platform", "cpu",
            "cpu_capability", "blas"]


@dataclass
class Published:
    paths: list[Path]
    rows: int
    absolute_out: int = 0  # copied records whose command names an absolute --out


RELATIVE_OUT_NOTE = ("A run's absolute `--out` is shown as `results/<name>`: the folder a run writes to changes "
                     "none of its records, and a published page names no machine's paths.")


def portable_command(command: str, name: str) -> str:
    """COMMAND with an absolute `--out` replaced by the relative `results/NAME`, so that a published leaderboard
    gives a command anyone can run from a clone; a relative `--out` (the house style) is kept as it is."""
    try:
        words = shlex.split(command)
    except ValueError:  # not shell syntax: shown as recorded
        return command
    changed = False
    for i, word in enumerate(words):
        if word == "--out" and i + 1 < len(words) and Path(words[i + 1]).is_absolute():
            words[i + 1], changed = f"results/{name}", True
        elif word.startswith("--out=") and Path(word[len("--out="):]).is_absolute():
            words[i], changed = f"--out=results/{name}", True
    return shlex.join(words) if changed else command


def provenance(records, name: str | None = None) -> dict[str, Any]:
    """Distinct environments, devices and commands over the records (one value each when the run was uniform)."""
    envs: dict[str, set] = {k: set() for k in ENV_KEYS}
    for r in records:
        for k in ENV_KEYS:
            v = r.environment.get(k)
            if v is not None:
                envs[k].add(str(v))
    return {
        "environment": {k: sorted(v) for k, v in envs.items() if v},
        "devices": sorted({r.device + (f" ({r.environment['gpu']})" if r.environment.get("gpu") else "")
                           for r in records}),
        "commands": sorted({portable_command(r.command, name) if name else r.command
                            for r in records if r.command}),
        "out_made_relative": bool(name) and any(r.command and portable_command(r.command, name) != r.command
                                                for r in records),
        "determinism": sorted({str(r.determinism.get("mode")) for r in records if r.determinism}),
        "finished": [min((r.finished_at for r in records if r.finished_at), default=None),
                     max((r.finished_at for r in records if r.finished_at), default=None)],
    }


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
  padding:0 1em;color:#1b1f24}
h1{font-size:1.5em;margin:.2em 0}table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{padding:.35em .6em;border-bottom:1px solid #d8dee4;text-align:right;white-space:nowrap}
th.text,td.text{text-align:left}th{cursor:pointer;user-select:none;background:#f6f8fa;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tbody tr:hover{background:#f6f8fa}td.ref{color:#57606a}code{background:#f6f8fa;padding:.1em .3em;border-radius:3px}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
.note{color:#57606a;font-size:.9em}
"""

# Sorting: numbers by their data-value (missing ones last in either direction), text alphabetically.
_JS = """
(function(){
  var table=document.getElementById('leaderboard'), body=table.tBodies[0];
  var heads=Array.prototype.slice.call(table.tHead.rows[0].cells);
  function key(cell){var v=cell.getAttribute('data-value');
    return v===null||v===''?null:(cell.classList.contains('text')?v:parseFloat(v));}
  function sortBy(th, dir){
    var i=heads.indexOf(th), rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
      if(x===null&&y===null)return 0; if(x===null)return 1; if(y===null)return -1;
      var c=(typeof x==='string')?x.localeCompare(y):x-y; return dir==='descending'?-c:c;});
    rows.forEach(function(r){body.appendChild(r);});
    heads.forEach(function(h){h.removeAttribute('aria-sort');}); th.setAttribute('aria-sort',dir);
  }
  heads.forEach(function(th){th.addEventListener('click',function(){
    var want=th.getAttribute('data-next')||(th.getAttribute('aria-sort')==='ascending'?'descending':'ascending');
    th.removeAttribute('data-next'); sortBy(th,want);});});
  table.setAttribute('data-sortable','ready');
  var m=/[#&]sort=(-?)([A-Za-z0-9_]+)/.exec(location.hash);
  if(m){var th=table.querySelector('th[data-key="'+m[2]+'"]');
    if(th){th.setAttribute('data-next',m[1]?'descending':'ascending'); th.click();}}
})();
"""


def _columns(frame) -> list[tuple[str, str, bool]]:
    """(key, label, is_text) of the page's table: measured value, then the reference beside it."""
    cols = [("task", "task", True), ("model", "model", True), ("metric", "metric", True), ("mean", "test", False),
            ("reference", "reference", False)]
    cols += [(f"{s}_mean", s, False) for s in _extra_splits(frame)]
    cols += [("val_mean", "val", False), ("n_seeds", "seeds", False), ("s_per_epoch", "s/epoch", False),
             ("peak_memory_mb", "peak MB", False), ("num_params", "params", False)]
    cols += [("tuned", "tuned", True), ("search_size", "search size", True), ("selected", "selected", True)]
    return [c for c in cols if c[0] in frame.columns or c[0] == "reference"]


def _cell(row: dict, key: str, text: bool) -> str:
    if text:
        v = metric_label(row.get(key, "")) if key == "metric" else row.get(key, "")
        v = "" if v is None or (isinstance(v, float) and v != v) else str(v)  # an untuned row has no selection
        return f'<td class="text" data-value="{html.escape(v)}">{html.escape(v)}</td>'
    value = _num(row.get(key))
    data = "" if value is None else repr(value)
    if key == "reference":
        shown = fmt(row.get("reference"), row.get("reference_std")) if value is not None else ""
        src = html.escape(str(row.get("reference_source") or ""))
        return f'<td class="ref" data-value="{data}" title="{src}">{html.escape(shown)}</td>'
    if key.endswith("_mean") or key == "mean":
        std = row.get("std") if key == "mean" else row.get(f"{key[:-len('_mean')]}_std")
        shown = fmt(value, std if key != "val_mean" else None)
    elif key in ("n_seeds", "num_params"):
        shown = "–" if value is None else f"{int(value):,}"
    elif key == "peak_memory_mb":
        shown = _peak_cell(row)
    else:
        shown = "–" if value is None else f"{value:.4f}"
    return f'<td data-value="{data}">{html.escape(shown)}</td>'


def to_html(frame, info: dict[str, Any], name: str) -> str:
    cols = _columns(frame)
    head = "".join(f'<th data-key="{k}" class="{"text" if t else "num"}" scope="col">{html.escape(label)}</th>'
                   for k, label, t in cols)
    body = "\n".join("<tr>" + "".join(_cell(r, k, t) for k, _, t in cols) + "</tr>"
                     for r in frame.to_dict("records"))
    env = info.get("environment", {})
    env_rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(', '.join(v))}</dd>" for k, v in env.items())
    env_rows += "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(', '.join(info[k]))}</dd>"
                        for k in ("devices", "determinism") if info.get(k))
    commands = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in info.get("commands", [])) or "<li>–</li>"
    when = " to ".join(html.escape(t) for t in dict.fromkeys(info.get("finished") or []) if t)
    refs = sorted({str(s) for s in frame.get("reference_source", []) if isinstance(s, str) and s})
    ref_items = "".join(f"<li>{html.escape(s)}</li>" for s in refs)
    task_items = "".join(f"<li>{html.escape(str(t))}<ul>{''.join(f'<li>{html.escape(d)}</li>' for d in items)}"
                         "</ul></li>" for t, items in task_deviation_items(frame).items())
    noted = frame.dropna(subset=["data_deviation"]) if "data_deviation" in frame.columns else frame.iloc[0:0]
    dev_items = "".join(f"<li>{html.escape(str(t))}: {html.escape(str(d))}</li>"
                        for t, d in dict.fromkeys(zip(noted["task"], noted.get("data_deviation", []))))
    differs = (frame.dropna(subset=["protocol_deviation"]) if "protocol_deviation" in frame.columns
               else frame.iloc[0:0])
    protocol_items = "".join(f"<li>{html.escape(str(t))} / {html.escape(str(m))}: {html.escape(str(d))}</li>"
                             for t, m, d in zip(differs["task"], differs["model"],
                                                differs.get("protocol_deviation", [])))
    memory = memory_note(frame)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>gbench leaderboard: {html.escape(name)}</title><style>{_CSS}</style></head>
<body>
<h1>gbench leaderboard: {html.escape(name)}</h1>
<p class="note">Mean ± sample std over seeds (over folds where the task says so), at the epoch selected on
validation; values as the evaluator returns them. Reference: the published number beside the measured one.
Click a column header to sort.</p>
<table id="leaderboard"><thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table>
{f"<h2>References</h2><ul>{ref_items}</ul>" if ref_items else ""}\
{f"<h2>Task deviations (from the task specs)</h2><ul>{task_items}</ul>" if task_items else ""}
{f"<h2>Data deviations (from the records)</h2><ul>{dev_items}</ul>" if dev_items else ""}
{f"<h2>Protocol deviations (from the records)</h2><ul>{protocol_items}</ul>" if protocol_items else ""}
<h2>Environment</h2><dl>{env_rows}</dl>
<h2>Produced by</h2><ul>{commands}</ul>
{f'<p class="note">{html.escape(RELATIVE_OUT_NOTE)}</p>' if info.get("out_made_relative") else ""}
{f'<p class="note">{html.escape(memory)}</p>' if memory else ""}
<p class="note">{html.escape(records_note(name))}</p>
{f'<p class="note">Runs finished {when}.</p>' if when else ""}
<script type="application/json" id="leaderboard-data">{html.escape(json.dumps(info), quote=False)}</script>
<script>{_JS}</script>
</body></html>
"""


def records_note(name: str) -> str:
    return (f"The records behind this page are in `runs/{name}/` beside it, a results directory: `gbench results "
            f"seeds` on it lists the per-seed values, `gbench compare` takes it as either side.")


def runs_dir(out_dir: Path, name: str) -> Path:
    """Where a published leaderboard's records live: a results directory of their own."""
    return out_dir / "runs" / name


def _copy_records(results: Path, records, target: Path) -> Path:
    """Copy the intact RECORDS of the results directory RESULTS, byte for byte, into the results directory TARGET,
    replacing what was there only once the copy is complete. Nothing to do when RESULTS is TARGET itself."""
    from gbench.results import ResultStore

    if target.exists() and results.resolve() == target.resolve():
        return target
    source = ResultStore(results)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        copy = ResultStore(staging)
        for r in records:
            place = copy.path_for(r.task, r.model, r.seed, r.job_id)
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.path_for(r.task, r.model, r.seed, r.job_id), place)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{staging.name[-8:]}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def publish(results: Path, name: str, out_dir: Path = Path("leaderboards"), force: bool = False) -> Published:
    """Aggregate RESULTS' records and write `<out_dir>/<name>.{csv,md,html}`, with the records copied to
    `<out_dir>/runs/<name>`; never replaces a published leaderboard without force."""
    from gbench.results import read_results

    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise GbenchError(f"--name '{name}': give a plain file name without slashes, e.g. --name default-cpu.")
    results_ = read_results(results, csv=False)
    records = results_.records
    if not records:
        raise GbenchError(f"'{results}' has no intact records to publish.")
    targets = [out_dir / f"{name}.{ext}" for ext in ("csv", "md", "html")] + [runs_dir(out_dir, name)]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise GbenchError(f"{existing[0]} exists already: a published leaderboard is not replaced silently; pass "
                          "--force to replace it, or choose another --name.")
    info = provenance(records, name)
    info["excluded_damaged_records"] = results_.damaged
    notes = ([RELATIVE_OUT_NOTE] if info["out_made_relative"] else []) + [records_note(name)]
    paths = write_leaderboard(results_.frame, out_dir, info["commands"], stem=name, heads=results_.heads(),
                              command_note=" ".join(notes))
    html_path = write_text(out_dir / f"{name}.html", to_html(results_.frame, info, name))
    copied = _copy_records(Path(results), records, runs_dir(out_dir, name))
    absolute = sum(1 for r in records if r.command and portable_command(r.command, name) != r.command)
    return Published(paths + [html_path, copied], len(results_.frame), absolute)
