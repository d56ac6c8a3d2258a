"""Diff rule IDs and levels: the closed set of kinds of change `mlfcheck diff` reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mlfcheck.errors import UsageError
from mlfcheck.findings import Ranked


class Level(Ranked):
    """How much a change matters to a consumer of the old archive."""

    INFO = 0
    WARNING = 1
    BREAKING = 2


@dataclass(frozen=True)
class RuleInfo:
    """A rule's fixed facts: default level, one-line title, explanation, volatility."""

    level: Level
    title: str
    explanation: str
    volatile: bool = False
    """Volatile facts (export time) differ between any two exports; hidden unless asked for."""


class Rule(enum.Enum):
    """The closed set of diff rules. The value holds what `mlfcheck explain` prints."""

    # D1: format, modules and metadata
    D101 = RuleInfo(Level.BREAKING, "MLF version went down",
        "The new archive declares an older MLF version than the old one. Consumers written "
        "for the old version read keys and paths that the older format spells differently "
        "(mlf-spec.md §3.1), and version checks such as TVMC's reject it.")
    D102 = RuleInfo(Level.INFO, "MLF version went up",
        "The new archive declares a newer MLF version. Consumers that check the version (all "
        "of TVM's do, see mlf-spec.md §6) learn about the format change; the renamed keys and "
        "paths are listed as D103/D104.")
    D103 = RuleInfo(Level.INFO, "metadata key renamed by a version bump",
        "A metadata key is spelled differently because the version changed, e.g. 'runtimes' "
        "became 'executors' in v5 and 'target' became a list in v6 (mlf-spec.md §3.1). The "
        "fact is the same; only the spelling moved.")
    D104 = RuleInfo(Level.INFO, "member path renamed by a version bump",
        "A file lives at another path because the version changed, e.g. runtime-config/ "
        "became executor-config/ in v5 and src/relay.txt became src/<m>.relay in v7 "
        "(mlf-spec.md §3.1). Its content is compared under the new path.")
    D105 = RuleInfo(Level.BREAKING, "metadata key removed without a version bump",
        "Both archives declare the same version but a key the old archive has is missing from "
        "the new one. A consumer reading that JSON Pointer fails, and nothing told it the "
        "format changed. Only keys the format defines count: the keys of a map (input and "
        "output names, devices, operator names, the kernel kinds of v8's "
        "lowering.integer_kernels) and the items of a list are data, so a map or list that "
        "loses entries loses no key.")
    D106 = RuleInfo(Level.INFO, "metadata key added, or removed with a version change",
        "A key appears that the old archive lacks (consumers ignore keys they do not read), or "
        "a key disappears together with a version change that consumers can check.")
    D107 = RuleInfo(Level.INFO, "module added",
        "The new archive has a module (modules.<m> in v7+) the old one lacks.")
    D108 = RuleInfo(Level.BREAKING, "module removed",
        "A module of the old archive is missing from the new one; its consumers lose their "
        "parameters, code and entry points.")
    D109 = RuleInfo(Level.BREAKING, "module renamed",
        "The only module has another name. Paths (parameters/<m>.params), the interface "
        "header and every generated symbol (tvmgen_<m>_...) change with it.")
    D110 = RuleInfo(Level.INFO, "metadata value changed",
        "A descriptive metadata value changed: external_dependencies, generator or another "
        "value no consumer computes with.")
    D111 = RuleInfo(Level.BREAKING, "executor or style changed",
        "The module moved between the graph and AOT executors (or between full-model and "
        "operator style). Consumers drive each executor through a different API.")
    D112 = RuleInfo(Level.WARNING, "target changed",
        "The code was generated for another target string (CPU, features, options). It may not "
        "run, or run differently, on the device the old archive was built for.")
    D113 = RuleInfo(Level.INFO, "export time changed",
        "export_datetime differs. Every export writes the time, so this is ignored unless "
        "--include-volatile is given.", volatile=True)
    D114 = RuleInfo(Level.BREAKING, "metadata became unusable",
        "The old archive's metadata.json reads into a model and the new one's does not "
        "(missing, not JSON, no known version, or a shape the normaliser cannot read): every "
        "consumer of the old archive fails on the new one, and nothing else can be compared. "
        "It is a verdict, not an error of the diff: the report lists the new archive's "
        "validation errors. An old archive that is unusable is invalid input (the gate fails "
        "unless --allow-invalid) but no change: no consumer could read it, so nothing of it "
        "can break.")
    # D2: memory map
    D201 = RuleInfo(Level.WARNING, "main workspace grew beyond the threshold",
        "main's workspace_size_bytes on a device grew by more than the 'workspace' threshold. "
        "The application must reserve that much RAM for the model's scratch space.")
    D202 = RuleInfo(Level.INFO, "main workspace changed",
        "main's workspace_size_bytes changed, within the 'workspace' threshold or down.")
    D203 = RuleInfo(Level.WARNING, "constants grew beyond the threshold",
        "main's constants_size_bytes on a device grew by more than the 'constants' threshold: "
        "more flash or RAM for weights.")
    D204 = RuleInfo(Level.INFO, "constants changed",
        "main's constants_size_bytes changed, within the 'constants' threshold or down.")
    D205 = RuleInfo(Level.INFO, "io size changed",
        "main's io_size_bytes changed. The inputs and outputs that cause it are reported by "
        "the D3 rules.")
    D206 = RuleInfo(Level.WARNING, "operator workspace grew beyond the threshold",
        "One operator's workspace grew by more than the 'workspace' threshold.")
    D207 = RuleInfo(Level.INFO, "operator workspace changed",
        "One operator's workspace changed, within the 'workspace' threshold or down.")
    D208 = RuleInfo(Level.INFO, "operator added to or removed from the memory map",
        "memory.functions.operator_functions lists a function in one archive only.")
    D209 = RuleInfo(Level.INFO, "graph storage map changed",
        "memory.sids (the graph executor's storage entries) differ in number, size or input "
        "binding.")
    D210 = RuleInfo(Level.INFO, "operator buffers changed",
        "An operator-style archive's buffers (memory.<function>[]) differ.")
    D211 = RuleInfo(Level.WARNING, "flash on the board grew beyond the threshold",
        "With --board: the flash of the archive's own symbols (functions, constants, "
        "initialised data), compiled for that board as `mlfcheck size` does, grew by more "
        "than the 'flash' threshold.")
    D212 = RuleInfo(Level.INFO, "flash on the board changed",
        "With --board: the flash of the archive's own symbols changed, within the 'flash' "
        "threshold or down.")
    D213 = RuleInfo(Level.WARNING, "static RAM on the board grew beyond the threshold",
        "With --board: the static RAM of the archive's own symbols (the workspace, other "
        "variables, initialised data) grew by more than the 'ram' threshold.")
    D214 = RuleInfo(Level.INFO, "static RAM on the board changed",
        "With --board: the static RAM of the archive's own symbols changed, within the 'ram' "
        "threshold or down.")
    D215 = RuleInfo(Level.WARNING, "instructions per inference grew beyond the threshold",
        "With --board: one call of the entry point (tvmgen_<module>_run, called by mlfcheck's "
        "own caller as `mlfcheck size --run` does) executes more instructions in QEMU than the "
        "'instructions' threshold allows over the old archive's.")
    D216 = RuleInfo(Level.INFO, "instructions per inference changed",
        "With --board: one call of the entry point executes a different number of "
        "instructions, within the 'instructions' threshold or fewer.")
    # D3: inputs and outputs
    D301 = RuleInfo(Level.BREAKING, "input removed",
        "The old archive's consumer sets an input the new model no longer has.")
    D302 = RuleInfo(Level.BREAKING, "input added",
        "The new model needs an input the old archive's consumer never sets.")
    D303 = RuleInfo(Level.BREAKING, "input dtype changed",
        "The consumer passes data of the old dtype; the model reads it as another.")
    D304 = RuleInfo(Level.BREAKING, "input size or shape changed",
        "The consumer's input buffer has the old size or shape.")
    D305 = RuleInfo(Level.BREAKING, "output removed",
        "The old archive's consumer reads an output the new model no longer writes.")
    D306 = RuleInfo(Level.BREAKING, "output added",
        "The new model writes an output the old consumer does not know, and the consumer "
        "provides the output buffers (AOT: the tvmgen_<m>_outputs struct, or the output "
        "array, the application fills and run() writes through). Code written for the old "
        "header leaves the new member NULL, so run() writes through a null pointer. Where "
        "the runtime allocates the outputs itself (the graph executor on both sides) the "
        "same change is D311.")
    D307 = RuleInfo(Level.BREAKING, "output dtype changed",
        "The consumer interprets the output with the old dtype.")
    D308 = RuleInfo(Level.BREAKING, "output size or shape changed",
        "The consumer's output buffer has the old size or shape.")
    D309 = RuleInfo(Level.BREAKING, "input renamed",
        "An input has a new name but the same dtype, shape and size. Code that sets it by name "
        "(the header's struct member, the graph runtime's set_input) no longer compiles or "
        "finds it.")
    D310 = RuleInfo(Level.BREAKING, "output renamed",
        "An output has a new name but the same dtype, shape and size; code that reads it by "
        "name breaks.")
    D311 = RuleInfo(Level.WARNING, "output added where the runtime allocates outputs",
        "Both archives use the graph executor, whose runtime allocates every output and hands "
        "them out by index (get_output): code written for the old archive never touches the "
        "new one and keeps working when it is appended. It is a warning, not info, because "
        "an output added before the old ones shifts their indices. With an executor whose "
        "outputs the caller provides, the same change is D306 (breaking).")
    # D4: generated code
    D401 = RuleInfo(Level.INFO, "function added",
        "A C function (or entry point) is defined or declared in the new archive's generated "
        "code only (after matching renamed functions by body).")
    D402 = RuleInfo(Level.INFO, "function removed",
        "A C function is defined in the old archive's generated code only, no graph config "
        "calls it and it is not an entry point (D409).")
    D403 = RuleInfo(Level.BREAKING, "function the graph config calls is gone",
        "The old graph config calls a function (nodes[].attrs.func_name) that the new code no "
        "longer defines under that name, so a graph runtime holding the old config fails to "
        "look it up.")
    D404 = RuleInfo(Level.INFO, "function renamed",
        "A function has a new name but the same body (comments and whitespace ignored, "
        "numeric literals compared by value, renamed callees substituted): TVM renumbers "
        "fused functions between exports. A TVM-FFI wrapper __tvm_ffi_<name> spells <name> "
        "in its error strings and local names; those follow the rename too, so a kernel "
        "renamed everywhere is one rename.")
    D405 = RuleInfo(Level.INFO, "function body changed",
        "A function with the same name has a different body (comments and whitespace "
        "ignored, numeric literals compared by value: 16 and 0x10 are the same) while the IR "
        "text, parameters or target changed too (so a new body is expected). The size delta "
        "and a capped unified diff excerpt are given.")
    D406 = RuleInfo(Level.WARNING, "generated code grew beyond the threshold",
        "The module's generated C functions total more bytes of code than the 'code' "
        "threshold allows over the old ones (C text without comments and with whitespace "
        "only where it separates tokens, a proxy for flash; the headline counts the same).")
    D407 = RuleInfo(Level.INFO, "generated code size changed",
        "The module's generated C functions total a different number of bytes of code "
        "(as D406 counts them), within the 'code' threshold or down.")
    D408 = RuleInfo(Level.INFO, "data declaration changed",
        "A top-level C variable (a linked constant array, the system-lib registry, a workspace "
        "pointer) was added or removed, or its type, element count or storage changed, or a "
        "non-numeric initializer differs beyond the order of the names it lists.")
    D409 = RuleInfo(Level.BREAKING, "entry point removed or its signature changed",
        "A function consumers call by name (tvmgen_<m>_run, tvmgen_<m>_run_model, "
        "tvmgen_<m>___tvm_main__, TVMSystemLibEntryPoint) is no longer defined or declared, "
        "or its parameters or return type changed: the application no longer links or passes "
        "the wrong arguments.")
    D410 = RuleInfo(Level.WARNING, "kernel changed with the same model",
        "A function body changed (numeric literals compared by value) while the IR text, the "
        "parameters and the target are all unchanged: the same model now runs different code "
        "(a compiler change), which may compute something different.")
    D411 = RuleInfo(Level.WARNING, "linked constant values changed",
        "A constant array in the generated C (linked parameters, the v7 constant pool) has "
        "the same type and element count but other values, so the model computes something "
        "different. The number of changed elements and the largest absolute difference are "
        "given; the C twin of D505.")
    D412 = RuleInfo(Level.INFO, "other top-level C item changed",
        "A preprocessor line (#define, #include), typedef or other file-scope item of the "
        "generated C or header was added, removed or changed. A #define can change the "
        "meaning of everything after it. A new value of v8's WORKSPACE_SIZE or "
        "CONSTANTS_SIZE macro is here too, not D415: they size arrays the archive defines "
        "itself.")
    D413 = RuleInfo(Level.BREAKING, "header struct member removed or renamed",
        "A member of a struct in codegen/host/include/tvmgen_<m>.h (inputs, outputs, devices, "
        "workspace_pools) is gone or has another name or type; application code that fills "
        "the struct no longer compiles.")
    D414 = RuleInfo(Level.INFO, "header struct, member or entry point added",
        "The interface header has a struct, struct member or entry-point prototype the old "
        "one lacks, or the archive gained its interface header.")
    D415 = RuleInfo(Level.BREAKING, "size macro changed",
        "A *_SIZE macro of the interface header (input, output or workspace size) changed "
        "value or disappeared; buffers the application sized with it are now wrong. Values "
        "are compared as numbers (40 and 0x28 are equal). In v8 (both archives) the "
        "workspace and constants macros are not: the archive defines the workspace array and "
        "the constants itself, and no consumer sizes a buffer with them (docs/mlf-v8.md); a "
        "new value there is D412, and the memory section reports the sizes (removing one is "
        "still D415: code may name it).")
    D416 = RuleInfo(Level.INFO, "functions changed calling convention",
        "Operator functions went from TVM's packed calling convention (args, arg_type_ids, "
        "num_args, ...: how the graph executor and the system library call them) to plain "
        "tensor pointers, or back. It follows the executor (D111) or the target's "
        "-unpacked-api (D112) and is reported once for all of them, not as one body change "
        "each.")
    D417 = RuleInfo(Level.BREAKING, "the archive's C no longer builds",
        "The old archive's C compiled and linked (on the host, or with --board for that "
        "board) and the new one's does not: a compile or link error, an include of a file "
        "outside the archive, a build stopped by a limit. Every consumer that builds the old "
        "archive fails on the new one, whatever the reader sees in its text; the details give "
        "the compiler's first errors (validate --build shows them all). Files not built here "
        "because they need a consumer library's headers (B004) do not count.")
    # D5: parameters
    D501 = RuleInfo(Level.INFO, "parameter added",
        "parameters/<m>.params holds a tensor the old file lacks.")
    D502 = RuleInfo(Level.INFO, "parameter removed",
        "parameters/<m>.params lacks a tensor the old file holds.")
    D503 = RuleInfo(Level.WARNING, "parameter shape changed",
        "A parameter tensor has another shape; anything that loads parameters by name with "
        "the old layout feeds mismatched data.")
    D504 = RuleInfo(Level.WARNING, "parameter dtype changed",
        "A parameter tensor has another dtype.")
    D505 = RuleInfo(Level.WARNING, "parameter values changed",
        "A parameter tensor has the same name, shape and dtype but other values, so the model "
        "computes something different; the number of changed elements and the largest "
        "absolute difference are given for numeric dtypes. A name stored twice is compared as "
        "TVM loads it: the last copy wins.")
    # D6-D8: graph config, IR text, any other member
    D601 = RuleInfo(Level.INFO, "graph config changed",
        "The graph executor config differs as JSON (nodes, arg_nodes, heads, attrs). Lists are "
        "aligned (deepdiff), so one inserted node is one difference; each differing JSON "
        "Pointer is listed, capped.")
    D701 = RuleInfo(Level.INFO, "IR text changed",
        "The Relay/Relax text differs after normalising line endings, trailing spaces and "
        "blank lines.")
    D801 = RuleInfo(Level.INFO, "member added",
        "A file that no other rule covers exists in the new archive only.")
    D802 = RuleInfo(Level.INFO, "member removed",
        "A file that no other rule covers exists in the old archive only.")
    D803 = RuleInfo(Level.INFO, "member changed",
        "A file that no other rule covers differs: JSON members by JSON Pointer (deepdiff), "
        "text by a capped diff excerpt, binary files by size and SHA-256.")
    D804 = RuleInfo(Level.BREAKING, "interface header removed",
        "codegen/host/include/tvmgen_<m>.h is gone; application code that includes it no "
        "longer compiles.")
    # D9: a named consumer (diff --consumer)
    D901 = RuleInfo(Level.BREAKING, "consumer can no longer read the archive",
        "With --consumer: a read of that consumer's profile succeeds on the old archive and "
        "fails on the new one (docs/consumers.md). With --consumer, only D901 is breaking; "
        "every other change is capped at warning.")

    @property
    def level(self) -> Level:
        """The rule's default level."""
        return self.value.level

    @property
    def title(self) -> str:
        """The rule's one-line description."""
        return self.value.title

    @property
    def explanation(self) -> str:
        """What the rule means and why it has its level."""
        return self.value.explanation

    @property
    def volatile(self) -> bool:
        """True for facts that differ between any two exports (hidden by default)."""
        return self.value.volatile

    @classmethod
    def parse(cls, text: str, *, what: str) -> Rule:
        """A rule from its ID ('D101'); UsageError naming `what` otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise UsageError(f"{what}: unknown diff rule {text!r}; 'mlfcheck explain --list' "
                             "lists them") from None


FAIL_ON: dict[str, Level | None] = {"breaking": Level.BREAKING, "warning": Level.WARNING,
                                    "info": Level.INFO, "never": None}
"""`--fail-on` choices: the lowest level that fails the run (None: never fail)."""
