"""The experiments shoal ships: the demo (`shoal demo`) and the migration and policy benches
(`shoal bench ...`), with their programs in shoal/experiments/programs/."""
