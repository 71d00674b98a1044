"""A griffe extension for the documentation site (``mkdocs.yml``): the library's docstrings
are Google style, with Sphinx roles for cross-references (``:class:`Provider```) and ``::``
before example blocks. Markdown knows neither, so this rewrites them when griffe has loaded
the package:

* ``:class:`Provider``` becomes a link to the object's page (``Provider`` resolved from where
  the docstring is, as Sphinx would), or plain code when the object is not in the reference;
  ``~`` shortens the title to the last name, as in Sphinx;
* a paragraph ending in ``::`` ends in ``:``, the indented block after it staying a code block;
* an ``Args:`` item naming several parameters (``hub, group, project: ...``) becomes one item
  per parameter, with the same description;
* an attribute made by a descriptor that takes its docstring as an argument
  (``experiment_id = _Field[str]("The experiment's id.")`` of ``ExperimentData``) gets that
  docstring, so the reference lists it;
* a bare annotation in the body of a plain class (``experiment_id: Any`` in a mixin, for the
  type checker) is dropped, so that it does not hide the documented attribute of another base.
"""

from __future__ import annotations

import ast
import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|mod|exc|obj|const):`(?P<target>[^`]+)`")
LITERAL = re.compile(r"(?m)(\S)::$")
ALONE = re.compile(r"(?m)^(\s*)::$")
ARGS = re.compile(r"^(\s*)(?:Args|Arguments|Parameters|Other Parameters):\s*$")
NAMES = r"\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*"
OPEN_NAMES = re.compile(rf"^{NAMES}\s*,$")
SHARED = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)\s*:(?P<rest>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_shared_args(text: str) -> str:
    """One ``Args:`` item per parameter where an item names several."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        section = ARGS.match(line)
        if not section:
            continue
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(section[1])):
            body.append(lines[i])
            i += 1
        items = [b for b in body if b.strip()]
        depth = min((_indent(b) for b in items), default=0)
        j = 0
        while j < len(body):
            item = body[j]
            j += 1
            if _indent(item) != depth or not item.strip():
                out.append(item)
                continue
            head = item.strip()
            while OPEN_NAMES.match(head) and j < len(body) and body[j].strip():
                head = f"{head} {body[j].strip()}"
                j += 1
            shared = SHARED.match(head)
            if not shared:
                out.append(item)
                continue
            more = []
            while j < len(body) and (not body[j].strip() or _indent(body[j]) > depth):
                more.append(body[j])
                j += 1
            for name in re.split(r"\s*,\s*", shared["names"]):
                out.append(f"{' ' * depth}{name}:{shared['rest']}")
                out.extend(more)
    return "\n".join(out)


def _full_path(obj: griffe.Object, target: str) -> str | None:
    """The dotted path ``target`` stands for in the docstring of ``obj``, if it can be found."""
    if target.startswith("."):  # relative to the package of the docstring's module
        module = obj.module
        package = module.path if module.is_init_module else module.path.rpartition(".")[0]
        stripped = target.lstrip(".")
        for _ in range(len(target) - len(stripped) - 1):
            package = package.rpartition(".")[0]
        return f"{package}.{stripped}"
    if target.startswith("async_qexp"):
        return target
    first, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            found = scope.resolve(first)
        except (griffe.NameResolutionError, AttributeError):
            scope = scope.parent
            continue
        return f"{found}.{rest}" if rest else found
    return None


def _rewrite(obj: griffe.Object, text: str) -> str:
    def role(match: re.Match[str]) -> str:
        target = match.group("target").strip()
        short = target.startswith("~")
        target = target.lstrip("~").removesuffix("()")
        title = target.rpartition(".")[2] if short else target
        path = _full_path(obj, target)
        code = f"<code>{html.escape(title)}</code>"
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    text = _split_shared_args(ROLE.sub(role, text))
    text = ALONE.sub("", text)
    return LITERAL.sub(r"\1:", text)


def _descriptor_doc(obj: griffe.Object) -> str | None:
    """The docstring given to a ``_Field(...)`` descriptor that makes the attribute ``obj``."""
    value = getattr(obj, "value", None)
    if not obj.is_attribute or obj.docstring is not None or value is None:
        return None
    try:
        call = ast.parse(str(value), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or not call.args:
        return None
    func = call.func.value if isinstance(call.func, ast.Subscript) else call.func
    first = call.args[0]
    if not (isinstance(func, ast.Name) and func.id == "_Field"):
        return None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    settable = any(
        k.arg == "settable" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )
    return first.value + (" Settable." if settable else " Read-only.")


def _walk(obj: griffe.Object, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    doc = _descriptor_doc(obj)
    if doc is not None:
        obj.docstring = griffe.Docstring(doc, parent=obj)
    if obj.docstring is not None:
        obj.docstring.value = _rewrite(obj, obj.docstring.value)
    if obj.is_class and not obj.decorators:  # not a dataclass or attrs class: no fields
        for name, member in list(obj.members.items()):
            bare = not member.is_alias and member.is_attribute and member.value is None
            if bare and member.docstring is None:
                del obj.members[name]
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            _walk(member, seen)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and ``::`` in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """The package is loaded: rewrite its docstrings."""
        _walk(pkg, set())

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """The same, under the name older griffe versions call."""
        _walk(pkg, set())
