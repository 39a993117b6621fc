"""The inspector's shipped files: every module a page loads is shipped, and no script has a
way to turn text into markup or code."""

from __future__ import annotations

import posixpath
import re

from konstruct_memory.serving.inspector import CONTENT_SECURITY_POLICY, shipped_files

FILES = shipped_files()
SCRIPTS = {name: f.body.decode() for name, f in FILES.items() if name.endswith(".js")}
# Every way a script can parse a string as HTML or run it as code.
SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
    r"setTimeout\(\s*[\"'`]|setInterval\(\s*[\"'`]|createContextualFragment|DOMParser|srcdoc|"
    r"\.href\s*=|setAttribute\(\s*[\"'`](?:on|href|src)"
)


def test_every_module_and_file_a_page_loads_is_shipped() -> None:
    index = FILES["index.html"].body.decode()
    loaded = set(re.findall(r'(?:src|href)="([^"]+)"', index))
    assert loaded == {"icon.svg", "style.css", "js/app.js"}
    assert loaded <= set(FILES)
    for name, source in SCRIPTS.items():
        for target in re.findall(r'from "(\.[^"]+)"', source):
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            assert resolved in SCRIPTS, f"{name} imports {target}, which is not shipped"


def test_no_script_can_write_markup_or_run_text() -> None:
    assert len(SCRIPTS) >= 8
    for name, source in SCRIPTS.items():
        found = SINKS.search(source)
        assert found is None, f"{name}: {found.group(0) if found else ''}"


def test_the_page_has_no_inline_script_or_style_for_the_policy_to_allow() -> None:
    index = FILES["index.html"].body.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)", index) is None
    assert "<style" not in index and "style=" not in index
    assert re.search(r"\son[a-z]+=", index) is None
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
