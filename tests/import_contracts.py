"""An import-linter contract type the built-in ones lack: no import cycle between any two modules.

import-linter's ``acyclic_siblings`` folds each package with its descendants, so a package's
``__init__`` that imports its own submodule, which imports the ``__init__`` back, passes it (the
lazy re-export of a task module is the usual way in). This contract takes every module, package
``__init__`` files included, as a node, and every import grimp finds, lazy (function-level) ones
included, as an edge, and is broken by any strongly connected component of more than one module.
pyproject.toml (``[tool.importlinter]``) registers it as ``acyclic_modules``; lint-imports finds this
module because it runs from the repository root.
"""

from __future__ import annotations

from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def import_cycles(graph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative).

    Parameters
    ----------
    graph : a grimp ``ImportGraph``.
    modules : the nodes to consider; edges to other modules are left out.

    Returns
    -------
    Each cycle's modules, sorted; the cycles sorted.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    successors = {module: sorted(graph.find_modules_directly_imported_by(module) & modules) for module in modules}
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for offset, successor in enumerate(successors[node][position:], start=position):
                if successor not in index:
                    work += [(node, offset + 1), (successor, 0)]
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return sorted(cycles)


class AcyclicModulesContract(Contract):
    """No import cycle between modules under ``containers`` (lazy imports and ``__init__`` files included).

    Options: ``containers`` (packages whose modules are checked), ``ignore_imports`` (import-linter's
    ``importer -> imported`` expressions, each with a comment in the configuration saying why) and
    ``unmatched_ignore_imports_alerting`` (error, warn or none).
    """

    type_name = "acyclic_modules"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)

    def check(self, graph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph, ignore_imports=self.ignore_imports, unmatched_alerting=self.unmatched_ignore_imports_alerting
        )
        modules: set[str] = set()
        for container in self.containers:
            name = container.expression
            modules |= {name} | graph.find_descendants(name)
        cycles = import_cycles(graph, modules)
        lines = {}
        for cycle in cycles:
            members = set(cycle)
            lines[tuple(cycle)] = sorted(
                f"{detail['importer']}:{detail['line_number']} imports {detail['imported']}"
                for importer in cycle
                for imported in graph.find_modules_directly_imported_by(importer) & members
                for detail in graph.get_import_details(importer=importer, imported=imported)
            )
        return ContractCheck(
            kept=not cycles,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"cycles": lines},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle, imports in check.metadata["cycles"].items():
            output.print_error(f"Import cycle between {', '.join(cycle)}:")
            output.new_line()
            for line in imports:
                output.print_error(f"- {line}")
            output.new_line()
