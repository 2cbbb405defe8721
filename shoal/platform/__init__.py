"""The emulated hardware: harts (through Unicorn) and cluster memory."""
