"""Results for dashboards: JUnit XML (--junit FILE) and JSON (--json FILE).

One testsuite per scenario run, one testcase per KTAP case (suite/case,
the suite as classname), and one testcase `verdict` per run that fails
when the run did not give the scenario's expected result.  That last one
is what decides: a scenario that expects a seeded bug to be caught has
failing KTAP cases by design, so those are written as passed with the
finding in their output (`expected failure`), and only a run whose
verdict failed turns a dashboard red, exactly as `make check` does.
Failures carry the error class and the detection time the kernel printed.
"""

import json
import re
import xml.etree.ElementTree as ET

from .ktap import DETECT_RE, FAILED, SKIPPED

ERROR_RE = re.compile(r"^#\s*(?:expected )?error\s+(\S+):\s*(.*)$")


def _findings(result):
    """[(class, message)] from a KTAP case's diagnostics, and its first
    detection time (seconds or None)."""
    found, detect = [], None
    for d in result.diags:
        m = ERROR_RE.match(d)
        if m:
            found.append((m.group(1), m.group(2)))
        m = DETECT_RE.match(d)
        if m and detect is None:
            detect = float(m.group(2))
    return found, detect


def _cases(res):
    """Each KTAP case of a run as a dict: suite, name, status (pass, fail,
    skip, error), reason, findings, detect_seconds, output."""
    rep = getattr(res, "rep", None)
    if rep is None:
        return []
    out = []
    for r in rep.walk():
        if r.sub is not None and r.sub.results:
            continue            # a suite's own line: its cases speak for it
        suite, _, name = r.path.rpartition("/")
        findings, detect = _findings(r)
        out.append({
            "suite": suite or "(top)", "name": name, "status": r.status,
            "reason": r.reason or r.comment or "", "findings": findings,
            "detect_seconds": detect, "output": list(r.diags),
        })
    return out


def run_record(res):
    """A run as a JSON-ready dict."""
    return {
        "name": res.name, "scenario": res.scn.name, "seed": res.job.seed,
        "emulator": getattr(res.scn, "emulator", "qemu"),
        "expect": res.scn.expect, "result": res.result, "reason": res.reason,
        "verdict": res.verdict, "why": res.why, "seconds": round(res.seconds, 3),
        "detect_seconds": res.detect, "log": res.log,
        "cases": _cases(res),
    }


def write_json(results, path):
    with open(path, "w") as f:
        json.dump({"runs": [run_record(r) for r in results]}, f, indent=1)
        f.write("\n")


def _case_element(parent, classname, name, seconds=0.0):
    return ET.SubElement(parent, "testcase", classname=classname, name=name, time="%.3f" % seconds)


def _add_ktap_case(ts, run, case, expect_fail):
    tc = _case_element(ts, "%s.%s" % (run["name"], case["suite"]), case["name"])
    text = "\n".join(case["output"])
    what = "; ".join("%s: %s" % f for f in case["findings"]) or case["reason"] or "not ok"
    if case["detect_seconds"] is not None:
        what += " (detected after %.3f s)" % case["detect_seconds"]
    status = case["status"]
    if status == "skip":
        ET.SubElement(tc, "skipped", message=case["reason"] or "skipped")
    elif status in ("fail", "error") and expect_fail:
        text = "expected failure: %s\n%s" % (what, text)
    elif status == "fail":
        el = ET.SubElement(tc, "failure", message=what,
                           type=case["findings"][0][0] if case["findings"] else "fail")
        el.text = text
    elif status == "error":
        el = ET.SubElement(tc, "error", message=case["reason"] or "error", type="ERROR")
        el.text = text
    if text:
        ET.SubElement(tc, "system-out").text = text


def junit_tree(results):
    root = ET.Element("testsuites", name="mmtorture")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for res in results:
        run = run_record(res)
        ts = ET.SubElement(root, "testsuite", name=run["name"], time="%.3f" % res.seconds)
        ET.SubElement(ET.SubElement(ts, "properties"), "property", name="expect", value=run["expect"])
        expect_fail = run["expect"] != "pass"
        for case in run["cases"]:
            _add_ktap_case(ts, run, case, expect_fail)
        v = _case_element(ts, run["name"], "verdict", res.seconds)
        if res.verdict == FAILED:
            el = ET.SubElement(v, "failure", message=res.why or "unexpected result", type=str(res.result))
            el.text = "\n".join(res.problems or [])
        elif res.verdict == SKIPPED:
            ET.SubElement(v, "skipped", message=res.reason or "skipped")
        else:
            detail = "%s as expected" % res.result
            if res.detect is not None:
                detail += "; detected after %.3f s" % res.detect
            ET.SubElement(v, "system-out").text = detail
        counts = {"tests": len(ts.findall("testcase")),
                  "failures": len(ts.findall("testcase/failure")),
                  "errors": len(ts.findall("testcase/error")),
                  "skipped": len(ts.findall("testcase/skipped"))}
        for k, n in counts.items():
            ts.set(k, str(n))
            totals[k] += n
    for k, n in totals.items():
        root.set(k, str(n))
    return ET.ElementTree(root)


def write_junit(results, path):
    tree = junit_tree(results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
