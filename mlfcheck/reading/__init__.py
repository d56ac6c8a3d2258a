"""The reading layer: archives, their JSON, schemas, parameters, model, layouts, generated C
and the `Loaded` facts every command reads through."""
