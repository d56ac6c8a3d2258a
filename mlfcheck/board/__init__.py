"""The board layer: Cortex-M boards as data, cross builds, ELF sizes and footprints."""
