"""pytest plugin for a run of one of scikit-learn's own test modules with sklearn_rs patched in.

Loaded with ``-p skrs_own_tests_plugin`` in the process that ``test_sklearn_own_tests.py``
starts. It keeps the module's ``select`` tests of ``modules.toml`` when the entry has that list
(``SKRS_OWN_TESTS_MODULE`` names the module), deselects its ``deselect`` entries, checks that
the names the module imported are sklearn_rs's objects, and writes a JSON report to
``SKRS_OWN_TESTS_REPORT``: those checks, the select and deselect entries that matched no test,
and the outcome of every test.
"""

import json
import os
import sys
import tomllib

import pytest

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules.toml")


def module_config(name):
    with open(CONFIG, "rb") as fh:
        modules = tomllib.load(fh)["module"]
    (config,) = [m for m in modules if m["name"] == name]
    return config


class _Run:
    def __init__(self, config):
        self.config = config
        self.report = {"module": config["name"], "ours": {}, "unmatched_deselect": [],
                       "unmatched_select": [], "deselected": [], "outcomes": {}}

    @staticmethod
    def _names(item):
        return {item.name, getattr(item, "originalname", None)}

    def _entry_for(self, item):
        for entry in self.config.get("deselect", []):
            if entry["test"] in self._names(item):
                return entry
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        used, kept, dropped = set(), [], []
        select = self.config.get("select")
        if select is not None:
            selected = [item for item in items if self._names(item) & set(select)]
            matched = set().union(*(self._names(item) for item in selected))
            self.report["unmatched_select"] = [t for t in select if t not in matched]
            unselected = [item for item in items if item not in selected]
            if unselected:
                config.hook.pytest_deselected(items=unselected)
            items[:] = selected
        for item in items:
            entry = self._entry_for(item)
            if entry is None:
                kept.append(item)
            else:
                used.add(entry["test"])
                dropped.append(item)
        self.report["unmatched_deselect"] = [
            e["test"] for e in self.config.get("deselect", []) if e["test"] not in used]
        self.report["deselected"] = [item.nodeid for item in dropped]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_collection_finish(self, session):
        module = sys.modules.get(self.config["name"])
        from sklearn_rs import _patch

        for name in self.config["ours"]:
            # A dotted name reaches through a module the test imports (``neighbors.X``).
            theirs = module
            for part in name.split("."):
                theirs = getattr(theirs, part, None)
            # The registry's replacement (private names are not exported by sklearn_rs).
            registered = name.split(".")[-1]
            ours_module, attr = _patch._resolve(_patch._REGISTRY[registered].replacement)
            ours = getattr(ours_module, attr)
            # A module may wrap a function it imported (test_neighbors: ignore_warnings(...)).
            unwrapped = getattr(theirs, "__wrapped__", None)
            self.report["ours"][name] = theirs is not None and ours in (theirs, unwrapped)

    def pytest_runtest_logreport(self, report):
        outcomes = self.report["outcomes"]
        if report.when == "call" or report.outcome != "passed":
            if outcomes.get(report.nodeid) in (None, "passed"):
                outcomes[report.nodeid] = report.outcome

    def pytest_sessionfinish(self, session, exitstatus):
        self.report["exitstatus"] = int(exitstatus)
        with open(os.environ["SKRS_OWN_TESTS_REPORT"], "w") as fh:
            json.dump(self.report, fh, indent=1)


def pytest_configure(config):
    config.pluginmanager.register(
        _Run(module_config(os.environ["SKRS_OWN_TESTS_MODULE"])), "skrs_own_tests")
