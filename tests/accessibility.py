"""axe-core in the browser tests (docs/accessibility.md).

axe-core comes from the npm registry, pinned in package.json / package-lock.json and installed by
`npm ci` (make test-browser does it); it is read from node_modules/ and never fetched at run time. It is
evaluated in the page through Playwright (the DevTools protocol), which the page's Content-Security-Policy
does not govern: the pages keep their real CSP during the check.

``check_page(page, "map")`` runs the WCAG 2.0 and 2.1 A and AA rules, experimental ones included
(``label-content-name-mismatch``, WCAG 2.5.3, is one), and fails on any serious or critical violation,
naming the rule, the elements and the help text. Moderate and minor findings are written to
test-artifacts/axe-<name>.json; docs/accessibility.md lists the known ones with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

AXE_JS = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}

RUN_AXE = """async (tags) => {
  // Let fades and transitions end (a popup fading in has not reached its colours yet); loops are left running.
  const finite = document.getAnimations().filter((a) => isFinite(a.effect.getComputedTiming().endTime));
  await Promise.all(finite.map((a) => a.finished.catch(() => null)));
  // The experimental rules that test WCAG 2.0/2.1 A and AA criteria are off by default: turn them on.
  const experimental = axe.getRules(["experimental"]).filter((r) => r.tags.some((t) => tags.includes(t)));
  const rules = {};
  experimental.forEach((r) => { rules[r.ruleId] = { enabled: true }; });
  const options = { runOnly: { type: "tag", values: tags }, rules: rules, resultTypes: ["violations"] };
  const result = await axe.run(document, options);
  const slim = (list) => list.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, tags: v.tags,
    nodes: v.nodes.map((n) => ({
      target: n.target.join(" "), impact: n.impact, html: n.html.slice(0, 300), summary: n.failureSummary,
      related: n.any.concat(n.all, n.none).flatMap((c) => c.relatedNodes.map((r) => r.html.slice(0, 200))).slice(0, 5),
    })),
  }));
  const ran = result.passes.concat(result.violations, result.incomplete, result.inapplicable).map((r) => r.id);
  const review = result.incomplete.map((r) => r.id); // "needs review": axe could not decide
  return { violations: slim(result.violations), review: review, ran: ran };
}"""


def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm ci` at the repository root (make test-browser does)")
    return AXE_JS.read_text(encoding="utf-8")


def run_axe(page) -> dict:
    """axe's violations on the page as it is now (injected once per document)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    return page.evaluate(RUN_AXE, WCAG_TAGS)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:8]:
            lines.append(f"    {node['target']}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def check_page(page, name: str) -> list[dict]:
    """Zero serious or critical violations on the page as it is now; returns the moderate and minor ones."""
    result = run_axe(page)
    assert "label-content-name-mismatch" in result["ran"], "the experimental rules did not run"
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    others = [v for v in result["violations"] if v["impact"] not in BLOCKING]
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"url": page.url, "violations": result["violations"], "needs_review": result["review"]}
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(report, indent=2))
    assert not blocking, f"axe: serious or critical violations on {name} ({page.url}):\n{describe(blocking)}"
    if others:
        print(f"\naxe, {name}: moderate or minor:\n{describe(others)}")
    return others
