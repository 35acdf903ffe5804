"""The report's presentation: every figure for a 14-optimizer study with missing and partial cells,
legible by construction (fixed colours and markers, >= 150 dpi, nothing clipped), a self-contained
HTML with a table of contents, markdown links that resolve, LaTeX tables that are well formed, a
verdict written from the numbers, and the page as a reader sees it: rendered by headless Chromium
(Debian's `chromium`, installed by the test setup when missing) at 1400 x 900, the verdict is the
first heading and ends within the first screen, no image is wider than the page, the page stays short."""
from __future__ import annotations

import re
from itertools import combinations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

import search_spaces
from reports import write_report
from reports.figures import drawings
from reports.figures.style import DPI, STYLE, WIDTH, Look
from reports.render import slug
from reports.views import Aggregate, aggregates_from, claim_view, numbers_from_today, poi_matrices, tied_for_best
from browser import ensure_chromium, measure, screenshot
from synthetic_study import make_study

OPTIMIZERS = tuple(search_spaces.names())  # all 15 (the 14 of the papers and the notebook's Lookahead)
TASKS = ("cifar10", "glue-cola")


@pytest.fixture(scope="module")
def study14(tmp_path_factory):
    path = make_study(tmp_path_factory.mktemp("p14") / "s14", tasks=TASKS, optimizers=OPTIMIZERS, n_trials=8,
                      iid_trials=6, seeds=3, missing=(("glue-cola", "sepnorm"), ("cifar10", "muon")),
                      partial=(("cifar10", "lion"),), error_every=11)
    return path, write_report(path, log=lambda m: None)


def test_every_optimizer_gets_a_distinct_look_grouped_by_family():
    look = Look(OPTIMIZERS)
    assert len(set(look.color.values())) == len(OPTIMIZERS) == len(set(look.marker.values())) == 15
    rgb = {o: np.array(to_rgb(c)) * 255 for o, c in look.color.items()}
    closest = min(np.linalg.norm(rgb[a] - rgb[b]) for a, b in combinations(OPTIMIZERS, 2))
    assert closest > 40, closest  # no two colours nearly equal (and the markers differ anyway)
    assert set(look.families()) == {"adaptive", "sign", "normalized", "hybrid"}
    assert look.family["thermolion"] == look.family["lion"] == "sign"
    assert Look(["thermolion", "unknown_opt"]).color["thermolion"] == look.color["thermolion"]  # fixed per name
    assert Look(["unknown_opt"]).family["unknown_opt"] == "other"


def test_every_figure_is_drawn_as_png_and_pdf(study14):
    path, files = study14
    stems = {p.stem for p in (path / "figures").glob("*.png")}
    expected = {"across_forest", "across_poi", "across_profile", "per_task_scores", "robustness_expected_max",
                "curves_score", "curves_train_loss", "cost_time_per_step", "cost_time_to_target", "claims_time"}
    for task in TASKS:
        expected |= {f"sensitivity_{task}_{k}" for k in ("lr", "weight_decay", "batch_size", "specific")}
        expected.add(f"diagnostics_{task}")
    assert expected <= stems, expected - stems
    assert any(s.startswith("claims_thermolion") for s in stems) and any(s.startswith("claims_sepnorm") for s in stems)
    for png in (path / "figures").glob("*.png"):
        with Image.open(png) as im:
            assert round(im.info["dpi"][0]) >= 150
            assert im.width <= round(WIDTH * DPI) + 2, png.name  # fits the report column at 100% zoom
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"


@pytest.fixture(scope="module")
def drawn(study14):
    from reports.load import load_study
    from reports.cells import cell_tables
    from reports import metrics
    from reports.aggregates import aggregate
    from reports.claims import check_claims
    from reports.report import relevant_claims

    study = load_study(study14[0])
    summary, emp, _ = cell_tables(study)
    confirm = study.trials[study.trials["phase"] == "confirm"]
    scores = confirm[["task", "optimizer", "test_value", "chance"]].rename(columns={"test_value": "value"})
    ranks, poi, poi_ci, normalized, note = aggregate(scores)
    numbers = numbers_from_today(summary, emp, relevant_claims(check_claims(study.trials), study), ranks, poi,
                                 metrics.performance_profile(normalized), notes=[note], poi_long=poi_ci)
    with matplotlib.rc_context(STYLE):
        figs = {d.key: d for items in drawings(study, numbers, Look(study.optimizers)).values() for d in items}
        for d in figs.values():
            d.figure.canvas.draw()
    return study, figs


def test_no_text_is_clipped(drawn):
    """The tight box of everything drawn (tick labels, titles, legends) lies inside the canvas."""
    _, figs = drawn
    for key, d in figs.items():
        fig = d.figure
        tight = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
        w, h = fig.get_size_inches()
        assert tight.x0 >= -0.01 and tight.y0 >= -0.01 and tight.x1 <= w + 0.01 and tight.y1 <= h + 0.01, (key, tight.bounds, w, h)


def test_captions_say_what_to_look_at(drawn):
    _, figs = drawn
    for key, d in figs.items():
        assert len(d.caption) > 80 and re.search(r"\b(look|read|compare)\b", d.caption, re.I), key


def _scatter_x(fig) -> np.ndarray:
    pts = [c.get_offsets()[:, 0] for ax in fig.axes for c in ax.collections if len(c.get_offsets())]
    return np.concatenate(pts) if pts else np.empty(0)


def test_sensitivity_uses_iid_trials_only_on_the_searched_scale(drawn):
    study, figs = drawn
    lr = figs["sensitivity_cifar10_lr"].figure
    tune = study.trials[(study.trials["task"] == "cifar10") & (study.trials["phase"] == "tune")]
    scored = tune[np.isfinite(tune["value"])]
    iid_lr, guided_lr = set(scored.loc[scored["iid"], "hp_lr"].round(12)), set(scored.loc[~scored["iid"], "hp_lr"].round(12))
    shown = set(np.round(_scatter_x(lr), 12))
    assert shown and shown <= iid_lr and not (shown & (guided_lr - iid_lr))
    assert all(ax.get_xscale() == "log" for ax in lr.axes if ax.axison)
    wd = figs["sensitivity_cifar10_weight_decay"].figure
    used = [ax for ax in wd.axes if ax.axison]
    assert all(ax.get_xscale() == "log" and ax.get_xticklabels()[0].get_text() == "0" for ax in used)
    assert len(used) == len(set(scored.loc[scored["iid"], "optimizer"]))  # one panel per optimizer
    for ax in used + [ax for ax in lr.axes if ax.axison]:  # no point falls outside its panel (synthetic wd exceeds some ranges)
        lo, hi = sorted(ax.get_xlim())
        xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())] or [np.empty(0)])
        assert ((xs >= lo) & (xs <= hi)).all(), ax.get_title()


def test_html_has_a_table_of_contents_of_every_section(study14):
    """(Self-containment of the HTML is tested in test_reports_report.)"""
    path, files = study14
    html = files["report.html"].read_text()
    nav = re.search(r'<nav class="toc">(.*?)</nav>', html, re.S).group(1)
    anchors = re.findall(r'href="#([^"]+)"', nav)
    ids = set(re.findall(r'id="([^"]+)"', html))
    assert anchors and set(anchors) <= ids
    h2 = re.findall(r'<h2 id="([^"]+)"', html)
    assert set(h2) <= set(anchors)  # every section is in the sidebar
    assert re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", html)[0] == ("1", "Verdict")


def test_markdown_links_resolve_and_verdict_comes_first(study14):
    path, files = study14
    md = files["report.md"].read_text()
    assert md.startswith("# Verdict\n")
    slugs = {slug(h) for h in re.findall(r"^#{1,3} (.+)$", md, re.M)}
    toc = re.search(r"^\*\*Contents:\*\* (.+)$", md, re.M).group(1)
    assert set(re.findall(r"\]\(#([^)]+)\)", toc)) <= slugs
    for target in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (path / target).exists(), target
    assert "<NA>" not in md and "nan" not in re.findall(r"\w+", md)  # no missing value printed as such
    assert "thermolion (Abstract, Tables 1-2)" in md  # a claim without a table number names its source


def test_latex_tables_are_well_formed(study14):
    path, files = study14
    tex = sorted((path / "tables").glob("*.tex"))
    assert {"claims", "verdicts", f"task_{TASKS[0]}"} <= {p.stem for p in tex}
    for p in tex:
        text = p.read_text()
        assert text.count("\\begin{tabular}") == text.count("\\end{tabular}") == 1, p.name
        assert all(rule in text for rule in ("\\toprule", "\\midrule", "\\bottomrule")), p.name
        spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", text).group(1)
        body = text.split("\\toprule")[1].split("\\bottomrule")[0].replace("\\midrule", "")
        for row in filter(str.strip, body.split("\\\\")):
            assert len(re.findall(r"(?<!\\)&", row)) == len(spec) - 1, (p.name, row)
        assert not re.search(r"(?<!\\)[_%#]", text), p.name  # underscores and specials escaped
    assert "muadam\\_paper" in (path / "tables" / f"task_{TASKS[0]}.tex").read_text()


def test_verdict_is_written_from_the_numbers(study14):
    path, files = study14
    md = files["report.md"].read_text()
    top = md.split("\n## ")[0]
    assert "**Who wins across tasks:**" in top and "**thermolion paper**" in top and "**sepnorm paper**" in top
    claims = pd.read_csv(path / "claims.csv")
    shown = claims[claims["task"].isin(TASKS)]
    n_not_run_fair = int((shown["fair_verdict"] == "not run").sum())
    assert n_not_run_fair > 0  # missing and partial cells leave claims not run
    assert "not run" in top and "Per task (tuned test score, 95% CI):" in top


def test_tied_for_best_reads_overlapping_intervals():
    table = pd.DataFrame({"optimizer": ["a", "b", "c", "d"], "value": [1.5, 2.5, 5.0, 2.2],
                          "ci_low": [1.0, 1.8, 4.0, np.nan], "ci_high": [2.0, 3.0, 6.0, np.nan]})
    assert tied_for_best(Aggregate("rank", table, lower_is_better=True)) == ["a", "b"]  # d: no CI, point past 2.0
    higher = table.assign(value=[70, 68, 60, 69.5], ci_low=[69, 67, 58, np.nan], ci_high=[71, 69.5, 62, np.nan])
    assert tied_for_best(Aggregate("iqm", higher, lower_is_better=False)) == ["a", "d", "b"]


def test_claim_view_reads_todays_and_richer_verdicts():
    claims = pd.DataFrame({"claim_id": ["x", "y"], "paper": "p", "table": 1, "kind": "beats", "task": "t", "optimizer": "a",
                           "baseline": "b", "claim": ["a beats b", "a beats c"], "pub_value": 2.0, "pub_baseline": 1.0,
                           "pub_delta": 1.0, "fair_delta": [0.5, np.nan], "fair_ci_low": [-0.1, np.nan],
                           "fair_ci_high": [1.1, np.nan], "fair_verdict": ["within noise", "too few runs"],
                           "paper_diff": [2.0, 1.0], "paper_ci_low": [1.0, 0.5], "paper_ci_high": [3.0, 1.5],
                           "paper_verdict": ["holds", "inconclusive: ~12 seeds needed"], "paper_seeds_needed": [np.nan, 12]})
    view = claim_view(claims).set_index(["claim_id", "setting"])
    assert view.loc[("x", "fair"), "verdict"] == "inconclusive" and view.loc[("x", "fair"), "reason"] == "within noise"
    assert view.loc[("y", "fair"), "reason"] == "too few runs" and view.loc[("x", "fair"), "diff"] == 0.5
    assert view.loc[("x", "paper"), "verdict"] == "holds" and view.loc[("y", "paper"), "verdict"] == "inconclusive"
    assert view.loc[("y", "paper"), "seeds_needed"] == 12


def test_views_read_richer_aggregates_and_poi_with_cis():
    from reports.figures.across import forest_figure

    ranks = pd.DataFrame({"optimizer": ["a", "b"], "mean_rank": [1.2, 1.8], "ci_low": [1.0, 1.5], "ci_high": [1.5, 2.0],
                          "iqm": [0.9, 0.7], "iqm_ci_low": [0.85, 0.6], "iqm_ci_high": [0.95, 0.8]})
    aggs = aggregates_from(ranks)
    assert [a.lower_is_better for a in aggs] == [True, False] and aggs[1].table["value"].tolist() == [0.9, 0.7]
    assert len([ax for ax in forest_figure(aggs, Look(["a", "b"])).figure.axes if ax.axison]) == 2  # one panel each
    long = pd.DataFrame({"a": ["a", "b"], "b": ["b", "a"], "poi": [0.7, 0.3], "ci_low": [0.6, 0.2], "ci_high": [0.8, 0.4]})
    point, low, high = poi_matrices(long)
    assert point.loc["a", "b"] == 0.7 and low.loc["b", "a"] == 0.2 and high.loc["a", "b"] == 0.8


SCREEN = (1400, 900)
MAX_PAGE_HEIGHT = 15_000  # px for 2 tasks x 15 optimizers (with a GLUE task: its average table); per-task detail sits in closed <details>


@pytest.fixture(scope="session")
def chromium():
    path, why = ensure_chromium()
    if not path:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return path


@pytest.fixture(scope="module")
def page(chromium, study14, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    return measure(chromium, study14[1]["report.html"], tmp, *SCREEN), tmp


def test_rendered_verdict_is_the_first_heading_and_fits_the_first_screen(page):
    m, _ = page
    assert m["headings"][0]["tag"] == "H1" and m["headings"][0]["text"] == "Verdict"
    assert m["first_main_tag"] == "H1"
    assert m["verdict_bottom"] is not None and m["verdict_bottom"] <= SCREEN[1], m["verdict_bottom"]
    # answer first: the claims' verdicts and the ranking inside the first screen, the caveats in one closed element
    assert m["verdict_lines_bottom"] is not None and m["verdict_lines_bottom"] <= SCREEN[1], m["verdict_lines_bottom"]
    (notes,) = m["notes"]
    assert re.fullmatch(r"Notes \(\d+\)", notes["summary"]) and not notes["open"], notes
    assert m["verdict_lines_bottom"] < notes["top"] < SCREEN[1] and notes["height"] < 60  # below the answer, one line


def test_answer_comes_before_the_notes_and_the_terminal_gets_it_too(study14):
    path, files = study14
    top = files["report.md"].read_text().split("\n## ")[0]
    verdict, notes = top.index("- **thermolion paper**"), top.index("<details><summary>Notes (")
    assert verdict < top.index("- **Who wins across tasks:**") < notes
    assert top.index("**Smoke-test budget**") > notes  # a caveat, inside the collapsed notes
    n_notes = int(re.search(r"Notes \((\d+)\)", top).group(1))
    lines = files["verdict.txt"].read_text().splitlines()
    failed = re.search(r"^\| thermolion \| paper's protocol \| \d+ \| (\d+) \|", top, re.M).group(1)  # the counts table
    assert lines[0].startswith("thermolion paper, paper's protocol: ") and f"{failed} does not hold" in lines[0]
    assert any(line.startswith("sepnorm paper: sepnorm > adamw on glue-cola: not run") for line in lines)
    assert lines[-1] == f"{n_notes} notes under the report's verdict" and len(lines) <= 8


def test_rendered_images_fit_the_page_at_full_size(page):
    m, _ = page
    assert m["img_right"], "no visible image"
    assert max(m["img_right"]) <= m["viewport"] and m["page_width"] <= m["viewport"]  # nothing scrolls sideways
    assert all(shown >= 0.95 * min(natural, 1080) for shown, natural in zip(m["img_shown"], m["img_natural"]))  # ~100% zoom


def test_rendered_page_height_is_bounded(page):
    m, _ = page
    assert 2 * SCREEN[1] < m["height"] <= MAX_PAGE_HEIGHT, m["height"]


def test_first_screen_screenshot(page, chromium, study14):
    _, tmp = page
    png = screenshot(chromium, study14[1]["report.html"], tmp / "first_screen.png", tmp, *SCREEN)
    with Image.open(png) as im:
        assert im.size == SCREEN and np.unique(np.asarray(im.convert("L"))).size > 16  # a rendered page, not a blank one
