"""Reading one preprocessed C text into a `SymbolTable`: one tree-sitter parse, then a walk
over its top level (`Reader`) that collects symbols, and the first syntax error, if any.

Conditionals and `extern "C" { ... }` are transparent: symbols inside are read like the rest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

from tree_sitter import Node

from mlfcheck.reading.csource.literals import parse_number, parse_tree
from mlfcheck.reading.csource.symbols import (
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


def read_text(path: str, source: bytes, text: bytes,
              attributes: Sequence[tuple[int, str]]) -> SymbolTable:
    """The table of `text` (preprocessed `source`) read in one parse."""
    tree, skipped = parse_tree(text)
    reader = Reader(path, text, list(attributes), skipped)
    reader.item_list(tree.root_node)
    return SymbolTable(
        path=path, digest=hashlib.sha256(source).hexdigest(), size=len(source),
        functions=tuple(reader.functions), data=tuple(reader.data),
        prototypes=tuple(reader.prototypes), structs=tuple(reader.structs),
        macros=tuple(reader.macros), others=tuple(reader.others),
        error=first_error(tree.root_node, text))


class Reader:
    """Walks the top level of one parse tree, collecting symbols."""

    def __init__(self, path: str, text: bytes, attributes: list[tuple[int, str]],
                 skipped: dict[int, int]) -> None:
        self.path = path
        """'' for a piece, which `batching.assemble` ties to its file."""
        self.skipped = skipped
        """Element counts of the numeric lists the parser left out, by the `{` offset."""
        self.functions: list[Function] = []
        self.data: list[Data] = []
        self.prototypes: list[Prototype] = []
        self.structs: list[Struct] = []
        self.macros: list[Macro] = []
        self.others: list[Other] = []
        self.attributes = attributes
        self.previous_end = 0
        self.item_start = 0
        """Where the current item's leading attributes may start: the previous item's end."""
        self.folder = Text(text)

    def fold(self, node: Node | None) -> str:
        """Folded text of `node` ('' for none)."""
        return "" if node is None else self.folder.fold(node.start_byte, node.end_byte)

    def span(self, node: Node) -> Span:
        return Span(node.start_point.row + 1, node.end_point.row + 1, node.start_byte,
                    node.end_byte)

    # -- items

    def item_list(self, parent: Node) -> None:
        """Read every top-level item below `parent` (conditionals and extern "C" are open)."""
        for node in parent.named_children:
            kind = node.type
            if kind != "comment":
                self.item_start = self.previous_end
                self.previous_end = node.end_byte
            if kind == "function_definition":
                self.function(node)
            elif kind == "declaration":
                self.declaration(node)
            elif kind in ("preproc_def", "preproc_function_def"):
                self.macro(node)
            elif kind in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                          "preproc_elifdef", "declaration_list"):
                self.item_list(node)
            elif kind == "linkage_specification":
                body = node.child_by_field_name("body")
                if body is not None:
                    if body.type == "declaration_list":
                        self.item_list(body)
                    else:
                        self.item_list(node)
            elif kind == "struct_specifier" and node.child_by_field_name("body") is not None:
                self.struct(node)
            elif kind in ("comment", "identifier", "string_literal") and parent.type in (
                    "preproc_if", "preproc_ifdef", "preproc_elif", "linkage_specification"):
                continue  # the condition of a conditional, the "C" of extern "C"
            elif kind != "comment":
                if kind == "type_definition":
                    for spec in _children(node, "struct_specifier"):
                        if spec.child_by_field_name("body") is not None:
                            self.struct(spec)
                self.others.append(Other(kind, self.span(node), self.path, self.folder))

    def function(self, node: Node) -> None:
        declarator = node.child_by_field_name("declarator")
        name = _name(declarator)
        if not name:
            self.others.append(Other(node.type, self.span(node), self.path, self.folder))
            return
        self.functions.append(Function(
            name=name, static=_is_static(node), signature=self.signature(node, declarator),
            parameters=_parameters(declarator), size=node.end_byte - node.start_byte,
            span=self.span(node), file=self.path, _text=self.folder))

    def signature(self, node: Node, declarator: Node | None) -> str:
        """Type and declarator, folded; storage class and attributes left out."""
        type_node = node.child_by_field_name("type")
        type_text = self.fold(type_node)
        qualifiers = [self.fold(c) for c in node.named_children
                      if c.type == "type_qualifier" and c.start_byte < (declarator.start_byte
                                                                        if declarator else 0)]
        return " ".join([*qualifiers, type_text, self.fold(declarator)]).strip()

    def declaration(self, node: Node) -> None:
        storage = self.storage(node)
        static = "static" in storage
        type_node = node.child_by_field_name("type")
        if type_node is not None and type_node.type == "struct_specifier" and \
                type_node.child_by_field_name("body") is not None:
            self.struct(type_node)
        declarators = node.children_by_field_name("declarator")
        if not declarators:
            self.others.append(Other(node.type, self.span(node), self.path, self.folder))
            return
        for declarator in declarators:
            target = declarator.child_by_field_name("declarator") \
                if declarator.type == "init_declarator" else declarator
            if _function_declarator(target) is not None:
                self.prototypes.append(Prototype(_name(target), static,
                                                 self.signature(node, target), self.span(node),
                                                 self.path))
                continue
            self.variable(node, type_node, storage, declarator, target)

    def storage(self, node: Node) -> tuple[str, ...]:
        """Storage class, qualifiers and attributes of a declaration, in source order;
        attributes inside a struct body or an initializer belong to those, not here."""
        found = [(c.start_byte, self.fold(c)) for c in node.named_children
                 if c.type in ("storage_class_specifier", "type_qualifier")]
        inner = [(n.start_byte, n.end_byte) for n in _descendants(node, (
            "field_declaration_list", "initializer_list", "compound_statement"))]
        found += [(at, text) for at, text in self.attributes
                  if min(node.start_byte, self.item_start) <= at < node.end_byte
                  and not any(s <= at < e for s, e in inner)]
        return tuple(text for _, text in sorted(found))

    def variable(self, node: Node, type_node: Node | None, storage: tuple[str, ...],
                 declarator: Node, target: Node | None) -> None:
        name = _name(target)
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
        self.data.append(Data(
            name=name, type=type_text, count=count, storage=storage,
            size=node.end_byte - node.start_byte, span=self.span(node), file=self.path,
            value=(value.start_byte, value.end_byte) if value is not None else None,
            has_members=members, _text=self.folder))
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
            known = next((s for s in self.structs if s.name == self.fold(struct_name)), None)
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
            self.data.append(Data(
                name=f"{owner}.{field_name}", type=element, count=count, storage=storage,
                size=pair.end_byte - pair.start_byte, span=self.span(pair), file=self.path,
                value=(item.start_byte, item.end_byte), has_members=False, _text=self.folder))

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
        self.structs.append(Struct(self.fold(name_node) if name_node else "",
                                   self.struct_members(body), self.span(node), self.path))

    def struct_members(self, body: Node) -> tuple[Member, ...]:
        out = []
        for fd in _children(body, "field_declaration"):
            type_text = self.fold(fd.child_by_field_name("type"))
            for declarator in fd.children_by_field_name("declarator"):
                name = _name(declarator)
                rest = self.fold(declarator).replace(name, "", 1) if name else ""
                out.append(Member(name, f"{type_text}{rest}"))
        return tuple(out)

    def macro(self, node: Node) -> None:
        name = self.fold(node.child_by_field_name("name"))
        params = node.child_by_field_name("parameters")
        if params is not None:
            name += self.fold(params)
        self.macros.append(Macro(name, self.fold(node.child_by_field_name("value")),
                                 self.span(node), self.path))


def _children(node: Node, kind: str) -> Iterator[Node]:
    return (c for c in node.named_children if c.type == kind)


def _name(declarator: Node | None) -> str:
    """The identifier a declarator declares ('' when it has none)."""
    node = declarator
    while node is not None:
        if node.type in ("identifier", "field_identifier", "type_identifier"):
            return node.text.decode("utf-8", "backslashreplace") if node.text else ""
        inner = node.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in (
                "identifier", "field_identifier", "parenthesized_declarator",
                "pointer_declarator", "function_declarator", "array_declarator")), None)
        node = inner
    return ""


def _parameters(declarator: Node | None) -> tuple[str, ...]:
    """The parameter names of a function declarator, in order."""
    function = _function_declarator(declarator)
    listed = function.child_by_field_name("parameters") if function is not None else None
    if listed is None:
        return ()
    return tuple(_name(p.child_by_field_name("declarator"))
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


def _is_static(node: Node) -> bool:
    return any(c.type == "storage_class_specifier" and c.text == b"static"
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
    """The first ERROR or MISSING node, as line:column and what the parser expected."""
    if not root.has_error:
        return None
    node = root
    while True:
        if node.is_missing:
            message = f"missing {node.type!r}"
            break
        if node.is_error:
            snippet = text[node.start_byte:min(node.end_byte, node.start_byte + 40)]
            shown = snippet.decode("utf-8", "backslashreplace").split("\n", 1)[0]
            message = f"syntax error at {shown!r}"
            break
        child = next((c for c in node.children if c.has_error or c.is_missing or c.is_error),
                     None)
        if child is None:
            message = "syntax error"
            break
        node = child
    row, col = node.start_point.row, node.start_point.column
    line_start = text.rfind(b"\n", 0, node.start_byte) + 1
    column = len(text[line_start:line_start + col].decode("utf-8", "replace")) + 1
    return SyntaxProblem(row + 1, column, message)
