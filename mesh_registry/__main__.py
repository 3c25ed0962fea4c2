from mesh_registry.cli.registry import main

main()
