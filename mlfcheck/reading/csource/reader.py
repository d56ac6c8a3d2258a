"""Reading one preprocessed C text into a `SymbolTable`: one tree-sitter parse, then a walk
over its top level (`Reader`) that collects symbols, and the first syntax error, if any.

Conditionals and `extern "C" { ... }` are transparent: symbols inside are read like the rest,
however deeply they nest (the walk keeps its own stack, not Python's), each definition with the
conditional it sits under (`preparation.Conditions`). The parse and the walk
share one count of steps (`literals.Steps`): each item walked adds one, each symbol kept
`budget.SYMBOL_STEPS`, and a text that passes its cap is not read.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TypeVar

from tree_sitter import Node, TreeCursor

from mlfcheck.reading.csource.budget import SYMBOL_STEPS
from mlfcheck.reading.csource.literals import Steps, parse_number, parse_tree
from mlfcheck.reading.csource.preparation import Conditions
from mlfcheck.reading.csource.symbols import (
    Condition,
    Data,
    Function,
    Macro,
    Member,
    Other,
    Prototype,
    Span,
    Struct,
    SymbolTable,
    SyntaxProblem,
    Text,
)


def read_text(path: str, source: bytes, text: bytes, attributes: Sequence[tuple[int, str]],
              steps: Steps, conditions: Conditions | None = None) -> SymbolTable | None:
    """The table of `text` (preprocessed `source`) read in one parse; None when the parse and
    its symbols take more than `steps` allows."""
    tree, skipped = parse_tree(text, steps)
    if tree is None:
        return None
    reader = Reader(path, text, list(attributes), skipped, steps, conditions)
    try:
        reader.item_list(tree.root_node)
    except _Spent:
        return None
    return SymbolTable(
        path=path, digest=hashlib.sha256(source).hexdigest(), size=len(source),
        functions=tuple(reader.functions), data=tuple(reader.data),
        prototypes=tuple(reader.prototypes), structs=tuple(reader.structs),
        macros=tuple(reader.macros), others=tuple(reader.others),
        error=first_error(tree.root_node, text))


_T = TypeVar("_T")


class _Spent(Exception):
    """The reader's symbols took the text past its steps."""


_OPEN = frozenset(("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                   "preproc_elifdef", "declaration_list"))
"""Items whose own items are read as top-level items."""
_CONDITIONS = frozenset(("preproc_if", "preproc_ifdef", "preproc_elif", "linkage_specification"))
"""Parents whose comment, identifier or string children are their condition (or the "C")."""


class Reader:
    """Walks the top level of one parse tree, collecting symbols."""

    def __init__(self, path: str, text: bytes, attributes: list[tuple[int, str]],
                 skipped: dict[int, int], steps: Steps | None = None,
                 conditions: Conditions | None = None) -> None:
        self.path = path
        """'' for a piece, which `batching.assemble` ties to its file."""
        self.skipped = skipped
        """Element counts of the numeric lists the parser left out, by the `{` offset."""
        self.steps = steps if steps is not None else Steps(1 << 62)
        """The parse's count of steps, which each symbol adds to."""
        self.functions: list[Function] = []
        self.data: list[Data] = []
        self.prototypes: list[Prototype] = []
        self.structs: list[Struct] = []
        self.struct_named: dict[str, Struct] = {}
        """The first struct of each name."""
        self.macros: list[Macro] = []
        self.others: list[Other] = []
        self.attributes = attributes
        self.attribute_at = [at for at, _ in attributes]
        """The attributes' offsets, in order (they come in text order)."""
        self.previous_end = 0
        self.item_start = 0
        """Where the current item's leading attributes may start: the previous item's end."""
        self.folder = Text(text)
        self.conditions = conditions
        """The file's conditionals; None for a piece (`batching.assemble` places those)."""

    def condition(self, node: Node) -> Condition | None:
        """The conditional a definition starting at `node` sits under."""
        return None if self.conditions is None else self.conditions.at(node.start_byte)

    def tick(self, steps: int) -> None:
        """Count `steps` (an item walked: 1; a symbol kept: `SYMBOL_STEPS`); past the cap,
        stop reading."""
        self.steps.count += steps
        if self.steps.over:
            raise _Spent

    def keep(self, symbols: list[_T], symbol: _T) -> None:
        """Keep one symbol, counting it."""
        self.tick(SYMBOL_STEPS)
        symbols.append(symbol)

    def fold(self, node: Node | None) -> str:
        """Folded text of `node` ('' for none)."""
        return "" if node is None else self.folder.fold(node.start_byte, node.end_byte)

    def span(self, node: Node) -> Span:
        return Span(node.start_point.row + 1, node.end_point.row + 1, node.start_byte,
                    node.end_byte)

    # -- items

    def item_list(self, root: Node) -> None:
        """Read every top-level item below `root` (conditionals and extern "C" are open), in
        order, with a stack of its own: nesting costs no Python recursion."""
        stack = [(root.type, iter(root.named_children))]
        while stack:
            parent, children = stack[-1]
            node = next(children, None)
            if node is None:
                stack.pop()
                continue
            inner = self.item(node, parent)
            if inner is not None:
                stack.append((inner.type, iter(inner.named_children)))

    def item(self, node: Node, parent: str) -> Node | None:
        """Read one item below a `parent` of that type; the node whose own items are to be read
        next when the item is open (a conditional, a declaration list, extern "C")."""
        kind = node.type
        if kind != "comment":
            self.item_start = self.previous_end
            self.previous_end = node.end_byte
        self.tick(1)
        if kind == "function_definition":
            self.function(node)
        elif kind == "declaration":
            self.declaration(node)
        elif kind in ("preproc_def", "preproc_function_def"):
            self.macro(node)
        elif kind in _OPEN:
            return node
        elif kind == "linkage_specification":
            body = node.child_by_field_name("body")
            if body is not None:
                return body if body.type == "declaration_list" else node
        elif kind == "struct_specifier" and node.child_by_field_name("body") is not None:
            self.struct(node)
        elif kind in ("comment", "identifier", "string_literal") and parent in _CONDITIONS:
            pass  # the condition of a conditional, the "C" of extern "C"
        elif kind != "comment":
            if kind == "type_definition":
                for spec in _children(node, "struct_specifier"):
                    if spec.child_by_field_name("body") is not None:
                        self.struct(spec)
            self.keep(self.others, Other(kind, self.span(node), self.path, self.folder))
        return None

    def function(self, node: Node) -> None:
        declarator = node.child_by_field_name("declarator")
        name = _name(declarator, self.folder.text)
        if not name:
            self.keep(self.others, Other(node.type, self.span(node), self.path, self.folder))
            return
        text = self.folder.text
        self.keep(self.functions, Function(
            name=name, static=_is_static(node, text), signature=self.signature(node, declarator),
            type=self.signature(node, declarator, names=False),
            parameters=_parameters(declarator, text), size=node.end_byte - node.start_byte,
            span=self.span(node), file=self.path, condition=self.condition(node),
            _text=self.folder))

    def signature(self, node: Node, declarator: Node | None, *, names: bool = True) -> str:
        """Type and declarator, folded; storage class and attributes left out; without the
        names the declarator declares (its own, its parameters') when `names` is False."""
        type_node = node.child_by_field_name("type")
        type_text = self.fold(type_node)
        qualifiers = [self.fold(c) for c in node.named_children
                      if c.type == "type_qualifier" and c.start_byte < (declarator.start_byte
                                                                        if declarator else 0)]
        shown = self.fold(declarator) if names or declarator is None else \
            self.fold_without(declarator, _declared_names(declarator))
        return " ".join([*qualifiers, type_text, shown]).strip()

    def fold_without(self, node: Node, holes: list[Node]) -> str:
        """Folded text of `node` with the text of `holes` (nodes inside it, in order) left
        out."""
        text, pieces, at = self.folder.text, [], node.start_byte
        for hole in holes:
            pieces.append(text[at:hole.start_byte])
            at = hole.end_byte
        pieces.append(text[at:node.end_byte])
        joined = b" ".join(pieces)
        return Text(joined).fold(0, len(joined))

    def declaration(self, node: Node) -> None:
        storage = self.storage(node)
        static = "static" in storage
        type_node = node.child_by_field_name("type")
        if type_node is not None and type_node.type == "struct_specifier" and \
                type_node.child_by_field_name("body") is not None:
            self.struct(type_node)
        declarators = node.children_by_field_name("declarator")
        if not declarators:
            self.keep(self.others, Other(node.type, self.span(node), self.path, self.folder))
            return
        for declarator in declarators:
            target = declarator.child_by_field_name("declarator") \
                if declarator.type == "init_declarator" else declarator
            if _function_declarator(target) is not None:
                self.keep(self.prototypes, Prototype(
                    _name(target, self.folder.text), static, self.signature(node, target),
                    self.signature(node, target, names=False), self.span(node), self.path))
                continue
            self.variable(node, type_node, storage, declarator, target)

    def storage(self, node: Node) -> tuple[str, ...]:
        """Storage class, qualifiers and attributes of a declaration, in source order;
        attributes inside a struct body or an initializer belong to those, not here."""
        found = [(c.start_byte, self.fold(c)) for c in node.named_children
                 if c.type in ("storage_class_specifier", "type_qualifier")]
        first = bisect_left(self.attribute_at, min(node.start_byte, self.item_start))
        last = bisect_left(self.attribute_at, node.end_byte)
        if first < last:
            inner = [(n.start_byte, n.end_byte) for n in _descendants(node, (
                "field_declaration_list", "initializer_list", "compound_statement"))]
            found += [(at, text) for at, text in self.attributes[first:last]
                      if not any(s <= at < e for s, e in inner)]
        return tuple(text for _, text in sorted(found))

    def variable(self, node: Node, type_node: Node | None, storage: tuple[str, ...],
                 declarator: Node, target: Node | None) -> None:
        name = _name(target, self.folder.text)
        value = declarator.child_by_field_name("value") \
            if declarator.type == "init_declarator" else None
        count, element = self.dimensions(target)
        if count is None and value is not None and value.type == "initializer_list" and \
                target is not None and target.type == "array_declarator" and \
                not _array_sizes(target):
            count = self.skipped.get(value.start_byte, value.named_child_count)
        type_text = self.fold(type_node) + element
        if type_node is not None and type_node.type == "struct_specifier":
            struct_name = type_node.child_by_field_name("name")
            type_text = "struct " + (self.fold(struct_name) if struct_name else "")
        members = value is not None and value.type == "initializer_list" and \
            type_node is not None and type_node.type == "struct_specifier"
        self.keep(self.data, Data(
            name=name, type=type_text, count=count, storage=storage,
            size=node.end_byte - node.start_byte, span=self.span(node), file=self.path,
            value=(value.start_byte, value.end_byte) if value is not None else None,
            has_members=members, condition=self.condition(node), _text=self.folder))
        if members:
            assert value is not None and type_node is not None
            self.members(name, type_node, storage, value)

    def members(self, owner: str, type_node: Node, storage: tuple[str, ...],
                value: Node) -> None:
        """Designated members of an initialised struct (v7's constant pool) as data."""
        fields: dict[str, tuple[str, int | None]] = {}
        body = type_node.child_by_field_name("body")
        struct_name = type_node.child_by_field_name("name")
        if body is None and struct_name is not None:
            known = self.struct_named.get(self.fold(struct_name))
            fields = {m.name: _member_type(m.type) for m in known.members} if known else {}
        for member in self.struct_members(body) if body is not None else ():
            fields[member.name] = _member_type(member.type)
        for pair in _children(value, "initializer_pair"):
            designator = pair.child_by_field_name("designator")
            item = pair.child_by_field_name("value")
            if designator is None or item is None or designator.type != "field_designator":
                continue
            field_name = self.fold(designator).lstrip(".")
            element, count = fields.get(field_name, ("", None))
            self.keep(self.data, Data(
                name=f"{owner}.{field_name}", type=element, count=count, storage=storage,
                size=pair.end_byte - pair.start_byte, span=self.span(pair), file=self.path,
                value=(item.start_byte, item.end_byte), has_members=False,
                condition=self.condition(pair), _text=self.folder))

    def dimensions(self, declarator: Node | None) -> tuple[int | None, str]:
        """(element count, pointer stars) of a declarator: 1 for a scalar, None if unknown."""
        stars = ""
        node = declarator
        while node is not None:
            if node.type == "pointer_declarator":
                stars += "*"
            node = node.child_by_field_name("declarator")
        count: int | None = 1
        if declarator is not None and declarator.type == "array_declarator" and \
                declarator.child_by_field_name("size") is None:
            count = None  # `w[]`: sized by its initializer
        for size in _array_sizes(declarator) if declarator is not None else ():
            number = parse_number(self.fold(size))
            if number is None or number != int(number) or number < 0 or count is None:
                count = None
            else:
                count *= int(number)
        return count, stars

    def struct(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if body is None:
            return
        struct = Struct(self.fold(name_node) if name_node else "", self.struct_members(body),
                        self.span(node), self.path)
        self.keep(self.structs, struct)
        self.struct_named.setdefault(struct.name, struct)

    def struct_members(self, body: Node) -> tuple[Member, ...]:
        out = []
        for fd in _children(body, "field_declaration"):
            type_text = self.fold(fd.child_by_field_name("type"))
            for declarator in fd.children_by_field_name("declarator"):
                name = _name(declarator, self.folder.text)
                rest = self.fold(declarator).replace(name, "", 1) if name else ""
                out.append(Member(name, f"{type_text}{rest}"))
        return tuple(out)

    def macro(self, node: Node) -> None:
        name = self.fold(node.child_by_field_name("name"))
        params = node.child_by_field_name("parameters")
        if params is not None:
            name += self.fold(params)
        self.keep(self.macros, Macro(name, self.fold(node.child_by_field_name("value")),
                                 self.span(node), self.path))


def _children(node: Node, kind: str) -> Iterator[Node]:
    return (c for c in node.named_children if c.type == kind)


def _name(declarator: Node | None, text: bytes) -> str:
    """The identifier a declarator declares ('' when it has none), read from `text` (the text
    parsed: a tree read through a callable keeps no text of its own)."""
    node = _name_node(declarator)
    return "" if node is None else \
        text[node.start_byte:node.end_byte].decode("utf-8", "backslashreplace")


def _name_node(declarator: Node | None) -> Node | None:
    """The identifier node a declarator declares, if it has one."""
    node = declarator
    while node is not None:
        if node.type in ("identifier", "field_identifier", "type_identifier"):
            return node
        inner = node.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in (
                "identifier", "field_identifier", "parenthesized_declarator",
                "pointer_declarator", "function_declarator", "array_declarator")), None)
        node = inner
    return None


def _declared_names(declarator: Node) -> list[Node]:
    """The identifiers a function declarator declares, in order: its own name and its
    parameters' names."""
    function = _function_declarator(declarator)
    listed = function.child_by_field_name("parameters") if function is not None else None
    parameters = [] if listed is None else [
        _name_node(p.child_by_field_name("declarator"))
        for p in _children(listed, "parameter_declaration")]
    return [n for n in (_name_node(declarator), *parameters) if n is not None]


def _parameters(declarator: Node | None, text: bytes) -> tuple[str, ...]:
    """The parameter names of a function declarator, in order."""
    function = _function_declarator(declarator)
    listed = function.child_by_field_name("parameters") if function is not None else None
    if listed is None:
        return ()
    return tuple(_name(p.child_by_field_name("declarator"), text)
                 for p in _children(listed, "parameter_declaration"))


def _function_declarator(declarator: Node | None) -> Node | None:
    """The function_declarator of a declarator (through pointers and parentheses), if any."""
    node = declarator
    while node is not None:
        if node.type == "function_declarator":
            return node
        if node.type not in ("pointer_declarator", "parenthesized_declarator",
                             "attributed_declarator"):
            return None
        node = node.child_by_field_name("declarator") or next(iter(node.named_children), None)
    return None


def _array_sizes(declarator: Node) -> list[Node]:
    out = []
    node: Node | None = declarator
    while node is not None:
        if node.type == "array_declarator":
            size = node.child_by_field_name("size")
            if size is not None:
                out.append(size)
        node = node.child_by_field_name("declarator")
    return out


def _is_static(node: Node, text: bytes) -> bool:
    return any(c.type == "storage_class_specifier" and text[c.start_byte:c.end_byte] == b"static"
               for c in node.named_children)


def _descendants(node: Node, kinds: tuple[str, ...]) -> list[Node]:
    """The outermost nodes of `kinds` below `node` (not below those); a short walk: it stops
    at every match, so an initializer's elements are never visited."""
    out = []
    stack = list(node.named_children)
    while stack:
        n = stack.pop()
        if n.type in kinds:
            out.append(n)
        elif n.named_child_count:
            stack.extend(n.named_children)
    return out


def _member_type(text: str) -> tuple[str, int | None]:
    """(element type, element count) of a struct member type such as `int8_t[36864]`."""
    head = re.sub(r"__attribute__\(\(.*\)\)", "", text).strip()
    sizes = re.findall(r"\[([^\]]*)\]", head)
    element = re.sub(r"\[[^\]]*\]", "", head).strip()
    count: int | None = 1
    for s in sizes:
        number = parse_number(s)
        if number is None or number != int(number) or count is None:
            count = None
        else:
            count *= int(number)
    return element, count


def first_error(root: Node, text: bytes) -> SyntaxProblem | None:
    """The first ERROR or MISSING node, as line:column and what the parser expected.

    A cursor goes down the first child holding an error at each level, looking at one sibling
    at a time (a list of a million elements is never made into a million nodes)."""
    if not root.has_error:
        return None
    cursor = root.walk()
    while True:
        node = cursor.node
        assert node is not None
        if node.is_missing:
            message = f"missing {node.type!r}"
            break
        if node.is_error:
            snippet = text[node.start_byte:min(node.end_byte, node.start_byte + 40)]
            shown = snippet.decode("utf-8", "backslashreplace").split("\n", 1)[0]
            message = f"syntax error at {shown!r}"
            break
        if not _to_first_error_child(cursor):
            message = "syntax error"
            break
    row, col = node.start_point.row, node.start_point.column
    line_start = text.rfind(b"\n", 0, node.start_byte) + 1
    column = len(text[line_start:line_start + col].decode("utf-8", "replace")) + 1
    return SyntaxProblem(row + 1, column, message)


def _to_first_error_child(cursor: TreeCursor) -> bool:
    """Move the cursor to the first child of its node that is or holds an error; False (the
    cursor back where it was) when there is none."""
    if not cursor.goto_first_child():
        return False
    while True:
        child = cursor.node
        assert child is not None
        if child.has_error or child.is_missing or child.is_error:
            return True
        if not cursor.goto_next_sibling():
            cursor.goto_parent()
            return False
