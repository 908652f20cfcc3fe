"""One module per command group; importing a module registers its commands on the app."""
