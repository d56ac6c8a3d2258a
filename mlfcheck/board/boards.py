"""Boards: the QEMU machines mlfcheck runs archives on, and the startup code and linker script
it writes for each.

A board is data: the QEMU machine name, the compiler's CPU flags, and two memory regions (FLASH
for code and constants, RAM for data, heap and stack). The startup code is small and our own: a
vector table, the FPU switched on where there is one, .data copied and .bss zeroed, the stack
painted with a pattern, semihosting opened, then `main(3, {"model", "in.bin", "out.bin"})`. After
main returns it prints one status line (exit code and the stack high-water mark); a fault prints
one fault line instead and stops QEMU with a non-zero status.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlfcheck.errors import UsageError

KiB = 1024
MiB = 1024 * KiB

STATUS_PREFIX = "mlfcheck-board:"
"""The startup code's last stdout line: `mlfcheck-board: exit <rc> stack <bytes>`."""
FAULT_PREFIX = "mlfcheck-fault:"
"""The fault handler's line: `mlfcheck-fault: exception <n> pc 0x… cfsr 0x… hfsr 0x…`."""
PAINT = 0xC5A3E1F7
"""The word the startup code paints the free stack with before main runs."""
DSP_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")
"""Cortex-M cores (gcc's -mcpu names) with the DSP extension mlfcheck's SIMD kernels use."""
CPUS = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m23", *DSP_CPUS)
"""Every core `export --cpu` knows; those without DSP keep the TIR kernels."""


@dataclass(frozen=True)
class Region:
    """One memory region of a board: where it starts and how many bytes it has."""

    name: str
    origin: int
    length: int


@dataclass(frozen=True)
class Board:
    """One QEMU machine: its CPU, compiler flags and the memory the image may use."""

    name: str
    """The QEMU machine (`qemu-system-arm -M <name>`)."""
    description: str
    cpu_flags: tuple[str, ...]
    flash: Region
    ram: Region
    fpu: bool
    stack: int = 8 * KiB
    """Least stack the linker reserves above the heap (the run may use more, up to RAM's end)."""
    heap: int = 8 * KiB
    """Heap for the C library's stdio buffers (the model itself never allocates)."""

    @property
    def regions(self) -> tuple[Region, Region]:
        """FLASH and RAM."""
        return self.flash, self.ram


def _mps2(name: str, description: str, flags: tuple[str, ...], fpu: bool) -> Board:
    # AN385/AN386/AN500: 4 MiB ZBT SSRAM1 at 0 for code, 4 MiB SSRAM2/3 at 0x20000000.
    return Board(name, description, flags, Region("FLASH", 0x00000000, 4 * MiB),
                 Region("RAM", 0x20000000, 4 * MiB), fpu)


BOARDS: dict[str, Board] = {b.name: b for b in (
    _mps2("mps2-an385", "Arm MPS2 AN385, Cortex-M3 (no FPU)",
          ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"), False),
    _mps2("mps2-an386", "Arm MPS2 AN386, Cortex-M4F",
          ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), True),
    _mps2("mps2-an500", "Arm MPS2 AN500, Cortex-M7 (double-precision FPU)",
          ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"), True),
    # AN505 boots Secure: SSRAM1 through its Secure alias, SSRAM2/3 at 0x38000000.
    Board("mps2-an505", "Arm MPS2 AN505, Cortex-M33 (Secure state)",
          ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
          Region("FLASH", 0x10000000, 4 * MiB), Region("RAM", 0x38000000, 4 * MiB), True),
    # AN547 boots Secure from ITCM (512 KiB); DTCM (512 KiB) holds data.
    Board("mps3-an547", "Arm MPS3 AN547, Cortex-M55 (Secure state)",
          ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
          Region("FLASH", 0x10000000, 512 * KiB), Region("RAM", 0x30000000, 512 * KiB), True),
    Board("netduinoplus2", "Netduino Plus 2, STM32F405 (Cortex-M4F, 1 MiB flash, 128 KiB SRAM)",
          ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
          Region("FLASH", 0x08000000, 1 * MiB), Region("RAM", 0x20000000, 128 * KiB), True),
)}
"""Every board mlfcheck knows, by QEMU machine name."""


def board_names() -> str:
    """Every known board's name, comma-separated, in table order (for help and errors)."""
    return ", ".join(BOARDS)


def board(name: str) -> Board:
    """The board called `name`; UsageError naming the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UsageError(f"unknown board {name!r} (known: {board_names()})") from None


def linker_script(b: Board) -> str:
    """The GNU ld script for `b`: code and constants in FLASH, .data loaded from FLASH into RAM,
    then .bss, a fixed heap and at least `b.stack` bytes of stack up to RAM's end."""
    return f"""\
/* mlfcheck linker script for {b.name}: {b.description}. */
ENTRY(mlfcheck_reset)
MEMORY
{{
  FLASH (rx) : ORIGIN = {b.flash.origin:#010x}, LENGTH = {b.flash.length:#x}
  RAM (rwx) : ORIGIN = {b.ram.origin:#010x}, LENGTH = {b.ram.length:#x}
}}
SECTIONS
{{
  .text : {{ KEEP(*(.vectors)) *(.text .text.*) *(.glue_7 .glue_7t) }} > FLASH
  .rodata : {{ *(.rodata .rodata.*) . = ALIGN(4); }} > FLASH
  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > FLASH
  .ARM.exidx : {{ *(.ARM.exidx* .gnu.linkonce.armexidx.*) }} > FLASH
  .init_array : {{ PROVIDE_HIDDEN(__preinit_array_start = .);
                  PROVIDE_HIDDEN(__preinit_array_end = .);
                  PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(.init_array*));
                  PROVIDE_HIDDEN(__init_array_end = .); }} > FLASH
  .fini_array : {{ PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(.fini_array*));
                  PROVIDE_HIDDEN(__fini_array_end = .); }} > FLASH
  .data : {{ . = ALIGN(4); __data_start = .; *(.data .data.*) . = ALIGN(4); __data_end = .; }}
    > RAM AT > FLASH
  __data_load = LOADADDR(.data);
  .bss (NOLOAD) : {{ . = ALIGN(4); __bss_start = .; *(.bss .bss.*) *(COMMON) . = ALIGN(4);
                    __bss_end = .; }} > RAM
  .heap (NOLOAD) : {{ . = ALIGN(8); __heap_start = .; . += {b.heap:#x}; __heap_end = .; }} > RAM
  .stack (NOLOAD) : {{ . = ALIGN(8); __stack_bottom = .; . += {b.stack:#x}; }} > RAM
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
  end = __heap_start;
}}
"""


def startup_source(b: Board) -> str:
    """startup.c for `b`: vectors, reset (FPU, .data, .bss, stack paint, main, status line),
    the fault handler and the heap for the C library."""
    return _startup_head(b) + _SEMIHOSTING_AND_HEAP + _FAULT_HANDLER + _reset_handler(b)


def _startup_head(b: Board) -> str:
    """The file comment, includes, constants, declarations and the vector table."""
    return f"""\
/* mlfcheck startup for {b.name}: {b.description}. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PAINT {PAINT:#010x}u
#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define STOPPED_APPLICATION_EXIT 0x20026
#define STOPPED_RUNTIME_ERROR 0x20023

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];
extern char __heap_start[], __heap_end[];
extern void initialise_monitor_handles(void);
extern int main(int argc, char** argv);
void mlfcheck_reset(void);
void mlfcheck_fault(void);
void mlfcheck_fault_report(const uint32_t* frame);
void* _sbrk(ptrdiff_t increment);

__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {{
  (void (*)(void))__stack_top, mlfcheck_reset, mlfcheck_fault, mlfcheck_fault,
  mlfcheck_fault, mlfcheck_fault, mlfcheck_fault, 0, 0, 0, 0,
  mlfcheck_fault, mlfcheck_fault, 0, mlfcheck_fault, mlfcheck_fault,
}};
"""


_SEMIHOSTING_AND_HEAP = """
static int semihost(int op, void* arg) {
  register int r0 __asm__("r0") = op;
  register void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* The heap is the fixed region the linker script reserves, never the stack's. */
void* _sbrk(ptrdiff_t increment) {
  static char* top = __heap_start;
  char* old = top;
  if (increment > __heap_end - top) {
    errno = ENOMEM;
    return (void*)-1;
  }
  top += increment;
  return old;
}
"""
"""The semihosting call and the C library's _sbrk, the same on every board."""

_FAULT_HANDLER = f"""
static char* hex(char* at, uint32_t value) {{
  int shift;
  *at++ = '0';
  *at++ = 'x';
  for (shift = 28; shift >= 0; shift -= 4) *at++ = "0123456789abcdef"[(value >> shift) & 0xFu];
  return at;
}}

static char* text(char* at, const char* s) {{
  while (*s) *at++ = *s++;
  return at;
}}

/* Every fault comes here: hand the exception frame (on the main stack) to the reporter. */
__attribute__((naked)) void mlfcheck_fault(void) {{
  __asm__ volatile("mrs r0, msp\\n\\tb mlfcheck_fault_report");
}}

void mlfcheck_fault_report(const uint32_t* frame) {{
  static char line[128];
  uint32_t ipsr;
  char* at = line;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  at = text(at, "\\n{FAULT_PREFIX} exception ");
  at = hex(at, ipsr & 0x1FFu);
  at = text(at, " pc ");
  at = hex(at, frame[6]);
  at = text(at, " cfsr ");
  at = hex(at, *(volatile uint32_t*)0xE000ED28u);
  at = text(at, " hfsr ");
  at = hex(at, *(volatile uint32_t*)0xE000ED2Cu);
  at = text(at, "\\n");
  *at = '\\0';
  semihost(SYS_WRITE0, line);
  for (;;) semihost(SYS_EXIT, (void*)STOPPED_RUNTIME_ERROR);
}}
"""
"""The fault handler and the helpers that write its line, the same on every board."""

_FPU_ON = ("  /* Full access to CP10 and CP11 (the FPU) before any floating-point code. */\n"
           "  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;\n"
           '  __asm__ volatile("dsb\\n\\tisb" ::: "memory");\n')
"""Reset's FPU switch-on, for boards with an FPU."""


def _reset_handler(b: Board) -> str:
    """mlfcheck_reset: .data, .bss, the FPU on `b`, stack paint, main, the status line."""
    fpu = _FPU_ON if b.fpu else ""
    return f"""
void mlfcheck_reset(void) {{
  static char* argv[] = {{"model", "in.bin", "out.bin", NULL}};
  uint32_t *from = __data_load, *to = __data_start, *sp;
  int rc;
  while (to < __data_end) *to++ = *from++;
  for (to = __bss_start; to < __bss_end; ++to) *to = 0;
{fpu}  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (to = __stack_bottom; to < sp; ++to) *(volatile uint32_t*)to = PAINT;
  initialise_monitor_handles();
  rc = main(3, argv);
  for (to = __stack_bottom; to < __stack_top && *to == PAINT; ++to) {{
  }}
  printf("\\n{STATUS_PREFIX} exit %d stack %lu\\n", rc,
         (unsigned long)((char*)__stack_top - (char*)to));
  fflush(stdout);
  for (;;) semihost(SYS_EXIT, (void*)STOPPED_APPLICATION_EXIT);
}}
"""
