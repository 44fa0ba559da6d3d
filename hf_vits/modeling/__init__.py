"""One self-contained folder per architecture (see DESIGN.md, "The architecture contract")."""
