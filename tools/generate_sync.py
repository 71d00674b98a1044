"""Write ``async_qexp/sync/_generated.py``: the blocking twins of the async classes.

    python tools/generate_sync.py           # rewrite the file (then run ``ruff format`` on it)
    python tools/generate_sync.py --check   # exit 1 when the file is out of date

Each twin gets every public method and property of its async class, with the same name,
parameters, defaults and (blocking-world) types: a coroutine becomes a method that blocks, a
``Pager`` a ``SyncPager``, a ``RuntimeJob`` a ``SyncRuntimeJob``, and so on (``RENAMES``).
The signatures are copied from the async source, so mypy checks the twins as it checks the
async classes. What cannot be copied (how a container is made, callbacks that receive the
twin, plain attributes) is written by hand in ``async_qexp/sync/_bases.py``; a name defined
there is not generated. The file is compared by syntax tree, so formatting does not matter.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import functools
import importlib
import importlib.util
import inspect
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "async_qexp" / "sync" / "_generated.py"
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever is installed

TWINS = (  # (twin, async module, async class, hand-written base in _bases.py)
    ("SyncProvider", "async_qexp._client", "Provider", "ProviderBase"),
    ("SyncExperimentService", "async_qexp.experiment.service", "ExperimentService", "ServiceBase"),
    ("SyncRuntimeService", "async_qexp.runtime.service", "RuntimeService", "ServiceBase"),
    ("SyncRuntimeJob", "async_qexp.runtime.job", "RuntimeJob", "RuntimeJobBase"),
    ("SyncExperimentData", "async_qexp.experiment.data", "ExperimentData", "ExperimentDataBase"),
)

RENAMES = {
    "ExperimentService": "SyncExperimentService",
    "RuntimeService": "SyncRuntimeService",
    "RuntimeJob": "SyncRuntimeJob",
    "ExperimentData": "SyncExperimentData",
    "ExperimentContents": "SyncExperimentData",
    "Pager": "SyncPager",
    "ResultStream": "SyncResultStream",
    "ServiceSource": "SyncProvider",
    "JobSource": "SyncProvider",
    "Provider": "SyncProvider",
}
"""Async types and their blocking twins, in every annotation."""

LOCAL = {
    "SyncProvider": None,
    "SyncExperimentService": None,
    "SyncRuntimeService": None,
    "SyncRuntimeJob": None,
    "SyncExperimentData": None,
    "SyncPager": "async_qexp.sync._loop",
    "SyncResultStream": "async_qexp.sync._loop",
}

SKIPPED = {
    "tasks",  # the task owner lives on the loop
    "jobs_api",  # the REST layer of jobs
    "from_record",  # how the runtime builds jobs
    "http",  # the HTTP session lives on the loop
    "connect",  # a blocking provider is connected when it is made
}
SKIPPED_IN = {"Provider": {"aclose"}}  # a blocking provider has close()


# -- reading the async source ---------------------------------------------------------------


@functools.cache
def module_names(module_name: str) -> dict[str, tuple[str, str | None]]:
    """Every name a module binds at its top level (imports included, under TYPE_CHECKING
    too): name -> (module it comes from, attribute there, or None for a module import)."""
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    package = module_name if hasattr(module, "__path__") else module_name.rpartition(".")[0]
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                names[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.partition(".")[0]] = (alias.name, None)
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names[node.name] = (module_name, node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = (module_name, target.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = (module_name, node.target.id)
    return names


def members_static(cls: type) -> list[tuple[str, Any]]:
    """``inspect.getmembers_static`` (Python 3.11+), for 3.10 too: every attribute of a class
    and its bases, without running descriptors."""
    return [(name, inspect.getattr_static(cls, name)) for name in sorted(dir(cls))]


def function_node(func: Any) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The syntax tree of a function's definition."""
    source = textwrap.dedent(inspect.getsource(func))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef), func
    return node


class Renamer(ast.NodeTransformer):
    """Async type names to their twins; in annotations, strings parsed into expressions."""

    def __init__(self, annotation: bool) -> None:
        self.annotation = annotation

    def visit_Name(self, node: ast.Name) -> ast.Name:
        """A renamed name."""
        return ast.Name(RENAMES.get(node.id, node.id), node.ctx)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        """``Literal[...]`` keeps its strings as they are (they are values, not types)."""
        if isinstance(node.value, ast.Name) and node.value.id == "Literal":
            return node
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        """A string annotation as an expression."""
        if self.annotation and isinstance(node.value, str):
            try:
                parsed = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return node
            return self.visit(parsed)
        return node


class Imports:
    """The names the generated code uses, and where to import them from."""

    def __init__(self) -> None:
        self.runtime: dict[str, set[tuple[str, str]]] = {}
        self.typing: dict[str, set[tuple[str, str]]] = {}
        self.modules: set[str] = set()

    def use(self, expr: ast.AST, module_name: str, *, at_runtime: bool) -> None:
        """Note the names ``expr`` uses, as ``module_name`` imports them."""
        known = module_names(module_name)
        for node in ast.walk(expr):
            if not isinstance(node, ast.Name):
                continue
            name = node.id
            if name in LOCAL:
                continue
            if hasattr(builtins, name):
                continue
            if name not in known:
                raise SystemExit(f"cannot tell where {name!r} of {module_name} comes from")
            source, attribute = known[name]
            if attribute is None:
                self.modules.add(source)
                continue
            target = self.runtime if at_runtime else self.typing
            target.setdefault(_public_home(source, attribute), set()).add((attribute, name))

    def render(self) -> list[str]:
        """The import lines."""
        self.runtime.setdefault("typing", set()).update({("TYPE_CHECKING", "TYPE_CHECKING")})
        typing_only = {
            source: pairs - self.runtime.get(source, set()) for source, pairs in self.typing.items()
        }
        typing_only = {s: p for s, p in typing_only.items() if p}
        lines = _section(self.modules, self.runtime, "")
        if typing_only:
            lines += ["", "if TYPE_CHECKING:", *_section(set(), typing_only, "    ")]
        return lines


def _section(modules: set[str], froms: dict[str, set[tuple[str, str]]], indent: str) -> list[str]:
    """Import lines as isort writes them: the standard library, third parties, then ours."""

    def section(name: str) -> int:
        top = name.partition(".")[0]
        return 0 if top in sys.stdlib_module_names else 2 if top == "async_qexp" else 1

    groups = []
    for number in range(3):
        group = [f"{indent}import {m}" for m in sorted(modules) if section(m) == number]
        group += [
            f"{indent}from {source} import {_names(pairs)}"
            for source, pairs in sorted(froms.items())
            if section(source) == number
        ]
        if group:
            groups.append(group)
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append("")
        lines += group
    return lines


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order by type: constants, then classes, then the rest."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


def _names(pairs: set[tuple[str, str]]) -> str:
    ordered = sorted(pairs, key=lambda pair: _isort_key(pair[0]))
    return ", ".join(a if a == b else f"{a} as {b}" for a, b in ordered)


def _public_home(source: str, attribute: str) -> str:
    """Where a name is defined (so importing it needs no re-export), following the chain of
    imports from ``source``."""
    seen = set()
    while (source, attribute) not in seen:
        seen.add((source, attribute))
        known = module_names(source)
        if attribute not in known or known[attribute] == (source, attribute):
            return source
        next_source, next_attribute = known[attribute]
        if next_attribute is None or next_attribute != attribute:
            return source
        try:
            importlib.import_module(next_source)
        except ImportError:
            return source
        source = next_source
    return source


# -- writing the twins ----------------------------------------------------------------------


def first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph, on one line."""
    text = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in text.splitlines())


def docstring(doc: str | None, cls_name: str, member: str) -> str:
    """A twin's docstring: the summary of the async one, and where the rest is."""
    summary = first_paragraph(doc).replace("\\", "\\\\").replace('"""', r"\"\"\"")
    see = f"Blocking: see :meth:`async_qexp.{cls_name}.{member}`."
    if summary:
        return f'"""{summary}\n\n        {see}\n        """'
    return f'"""{see}"""'


def expr(node: ast.AST | None, imports: Imports, module: str, *, at_runtime: bool) -> str:
    """An annotation or default, renamed, as source (its names noted in ``imports``)."""
    if node is None:
        return "Any"
    parsed = ast.parse(ast.unparse(node), mode="eval").body
    renamed = Renamer(annotation=not at_runtime).visit(parsed)
    imports.use(renamed, module, at_runtime=at_runtime)
    return ast.unparse(renamed)


def signature(
    node: ast.FunctionDef | ast.AsyncFunctionDef, imports: Imports, module: str
) -> tuple[str, str]:
    """``(parameters, call arguments)`` of a method, ``self`` left out."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params, call = [], []
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if i == 0:
            continue  # self
        text = f"{arg.arg}: {expr(arg.annotation, imports, module, at_runtime=False)}"
        if default is not None:
            text += f" = {expr(default, imports, module, at_runtime=True)}"
        params.append(text)
        call.append(arg.arg)
        if args.posonlyargs and arg is args.posonlyargs[-1]:
            params.append("/")
    if args.vararg is not None:
        annotation = expr(args.vararg.annotation, imports, module, at_runtime=False)
        params.append(f"*{args.vararg.arg}: {annotation}")
        call.append(f"*{args.vararg.arg}")
    elif args.kwonlyargs:
        params.append("*")
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        text = f"{arg.arg}: {expr(arg.annotation, imports, module, at_runtime=False)}"
        if default is not None:
            text += f" = {expr(default, imports, module, at_runtime=True)}"
        params.append(text)
        call.append(f"{arg.arg}={arg.arg}")
    if args.kwarg is not None:
        annotation = expr(args.kwarg.annotation, imports, module, at_runtime=False)
        params.append(f"**{args.kwarg.arg}: {annotation}")
        call.append(f"**{args.kwarg.arg}")
    return ", ".join(["self", *params]), ", ".join(call)


def method(name: str, func: Any, cls_name: str, imports: Imports) -> list[str]:
    """The twin of one method."""
    node = function_node(func)
    module = func.__module__
    params, call = signature(node, imports, module)
    returns = expr(node.returns, imports, module, at_runtime=False)
    doc = docstring(ast.get_docstring(node), cls_name, name)
    lines = [f"    def {name}({params}) -> {returns}:", f"        {doc}"]
    if getattr(func, "__rejects_unknown_keywords__", False):  # the same TypeError, with hints
        lines.insert(0, "    @reject_unknown_keywords")
        imports.runtime.setdefault("async_qexp.models._checks", set()).add(
            ("reject_unknown_keywords", "reject_unknown_keywords")
        )
    target = f"self._async.{name}" + (f", {call}" if call else "")
    if returns == "None":
        lines.append(f"        self._call({target})")
    else:
        lines.append(f"        result: {returns} = self._call({target})")
        lines.append("        return result")
    return lines


def init_method(func: Any, imports: Imports) -> list[str]:
    """The twin of a constructor: the same parameters, handed to the base's ``_start``."""
    node = function_node(func)
    params, _ = signature(node, imports, func.__module__)
    args = node.args
    names = [a.arg for a in (args.posonlyargs + args.args)[1:]] + [a.arg for a in args.kwonlyargs]
    entries = ", ".join(f'"{n}": {n}' for n in names)
    if args.kwarg is not None:
        entries += f", **{args.kwarg.arg}"
    return [
        f"    def __init__({params}) -> None:",
        "        self._start({" + entries + "})",
    ]


def getter(name: str, returns: str, doc: str) -> list[str]:
    """A property reading the async object's."""
    return [
        "    @property",
        f"    def {name}(self) -> {returns}:",
        f"        {doc}",
        f"        value: {returns} = self._loop.wrap(self._async.{name})",
        "        return value",
    ]


def setter(name: str, annotation: str) -> list[str]:
    """A property setter, run on the loop."""
    return [
        f"    @{name}.setter",
        f"    def {name}(self, value: {annotation}) -> None:",
        f'        self._call(setattr, self._async, "{name}", value)',
    ]


def field_type(owner: type, name: str) -> tuple[ast.expr, str]:
    """The type of a ``_Field`` declared in ``owner``'s class body, and the owner's module."""
    for klass in owner.__mro__:
        if name not in vars(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Subscript)
            ):
                return node.value.func.slice, klass.__module__
    raise SystemExit(f"no _Field declaration for {name}")


def twin_class(twin: str, module_name: str, cls_name: str, base_name: str) -> tuple[str, Imports]:
    """The source of one twin class, and the imports it needs."""
    module = importlib.import_module(module_name)
    cls = getattr(module, cls_name)
    base = getattr(importlib.import_module("async_qexp.sync._bases"), base_name)
    imports = Imports()
    imports.runtime.setdefault(module_name, set()).add((cls_name, cls_name))
    lines = [
        "@register",
        f"class {twin}({base_name}):",
        *CLASS_DOCS.get(
            twin,
            f'    """The blocking twin of :class:`async_qexp.{cls_name}`: each of its methods, '
            "blocking until the answer is there.\n\n"
            f"    Each method's full description is the async one's (``async_qexp.{cls_name}``).\n"
            '    """',
        ).splitlines(),
        "",
        f"    _async_type = {cls_name}",
        f"    _async: {cls_name}",
    ]
    if cls_name in ("ExperimentData", "Provider"):
        lines += ["", *init_method(cls.__init__, imports)]
    for name, member in members_static(cls):
        skipped = SKIPPED | SKIPPED_IN.get(cls_name, set())
        if name.startswith("_") or name in skipped or hasattr(base, name):
            continue
        lines.append("")
        if isinstance(member, functools.partialmethod):
            keywords = ", ".join(f"{k}={v!r}" for k, v in member.keywords.items())
            lines.append(
                f"    {name} = functools.partialmethod({member.func.__name__}, {keywords})"
            )
            lines.append(f'    """:meth:`{member.func.__name__}` with {keywords}."""')
            imports.modules.add("functools")
        elif isinstance(member, property):
            node = function_node(member.fget)
            returns = expr(node.returns, imports, member.fget.__module__, at_runtime=False)
            doc = docstring(ast.get_docstring(node), cls_name, name)
            lines += getter(name, returns, doc)
            if member.fset is not None:
                fset = function_node(member.fset)
                annotation = expr(
                    fset.args.args[1].annotation, imports, member.fset.__module__, at_runtime=False
                )
                lines += ["", *setter(name, annotation)]
        elif type(member).__name__ == "_Field":
            slice_node, owner_module = field_type(cls, name)
            returns = expr(slice_node, imports, owner_module, at_runtime=False)
            doc = f'"""{first_paragraph(member.__doc__)}"""'
            lines += getter(name, returns, doc)
            if member._settable:
                lines += ["", *setter(name, returns)]
        elif inspect.isfunction(member):
            lines += method(name, member, cls_name, imports)
        else:
            raise SystemExit(f"{cls_name}.{name}: do not know how to twin a {type(member)}")
    return "\n".join(lines), imports


CLASS_DOCS = {
    "SyncProvider": '''\
    """The blocking twin of :class:`~async_qexp.Provider`: the same constructor, and
    ``.experiment`` / ``.runtime`` whose every method blocks until the answer is there::

        with SyncProvider(token=TOKEN) as provider:
            exp_id = provider.experiment.create_experiment("T1", "ibmq_lima")
            for experiment in provider.experiment.experiments(limit=None):
                ...

    It runs the async client on an event loop of its own, in a daemon thread, so it works in
    a plain script, from many threads at once, and inside a running event loop (a Jupyter
    cell). :meth:`close` (or leaving ``with``) closes the connections and stops the loop; a
    provider that is never closed is closed when it is garbage-collected or at exit.
    ``SyncProvider.local()`` and ``SyncProvider.auto()`` start one as their async forms do.

    Raises:
        TypeError, ValueError: as :class:`~async_qexp.Provider` does, before any thread starts.
    """''',
    "SyncExperimentData": '''\
    """The blocking twin of :class:`~async_qexp.ExperimentData`: the same constructor and
    methods, the coroutines blocking until they are done::

        with SyncExperimentData(service=provider, experiment_type="T1") as exp:
            exp.add_jobs(job)
            exp.add_analysis_callback(fit)   # called with this blocking container
            exp.block_for_results()
            exp.save()

    Its jobs, callbacks and saves run on the loop of its provider. A container made without a
    service runs on a loop shared by such containers, and moves to its provider's loop when it
    gets a service (``exp.service = provider``), while none of its work is pending.
    """''',
}
"""Class docstrings of the twins users make themselves."""

HEADER = '''"""The blocking twins of the async classes (generated: do not edit).

Written by ``tools/generate_sync.py``; regenerate after changing a public method of
ExperimentService, RuntimeService, RuntimeJob or ExperimentData (a test fails until you do).
"""

# ruff: noqa: E501

from __future__ import annotations

'''

FOOTER = """

SyncPager._async_type = Pager
SyncResultStream._async_type = ResultStream
register(SyncPager)
register(SyncResultStream)
"""


def generate() -> str:
    """The whole generated module."""
    bodies = []
    imports = Imports()
    for twin, module_name, cls_name, base_name in TWINS:
        body, used = twin_class(twin, module_name, cls_name, base_name)
        bodies.append(body)
        for source, pairs in used.runtime.items():
            imports.runtime.setdefault(source, set()).update(pairs)
        for source, pairs in used.typing.items():
            imports.typing.setdefault(source, set()).update(pairs)
        imports.modules |= used.modules
    imports.runtime.setdefault("typing", set()).add(("Any", "Any"))
    imports.runtime.setdefault("async_qexp._paging", set()).add(("Pager", "Pager"))
    imports.runtime.setdefault("async_qexp.runtime.stream", set()).add(
        ("ResultStream", "ResultStream")
    )
    imports.runtime.setdefault("async_qexp.sync._loop", set()).update(
        {
            ("SyncPager", "SyncPager"),
            ("SyncResultStream", "SyncResultStream"),
            ("register", "register"),
        }
    )
    imports.runtime.setdefault("async_qexp.sync._bases", set()).update(
        {(base, base) for *_, base in TWINS}
    )
    names = ", ".join(f'"{twin}"' for twin in sorted(twin for twin, *_ in TWINS))
    text = HEADER + "\n".join(imports.render()) + f"\n\n__all__ = [{names}]\n\n\n"
    return text + "\n\n\n".join(bodies) + "\n" + FOOTER


def same_tree(a: str, b: str) -> bool:
    """Whether two sources have the same syntax tree (formatting aside)."""
    return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))


def main() -> int:
    """Write or check the generated module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    options = parser.parse_args()
    text = generate()
    if options.check:
        if OUT.exists() and same_tree(text, OUT.read_text()):
            return 0
        stale = OUT.relative_to(ROOT)
        print(f"{stale} is out of date: run tools/generate_sync.py", file=sys.stderr)
        return 1
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
